import RipcordTestSupport
import RipcordWire
import Testing

/// How a standalone router reads the controller's routes stream, and the CLI the event stream.
@Suite(.tags(.unit)) struct ServerSentEventParserTests {
    @Test func eventsArriveWhateverPiecesTheBytesComeIn() throws {
        let stream = "event: routes\nid: 7\ndata: {\"a\":1}\n\n:\n\nevent: routes\r\ndata: {\"b\":2}\r\n\r\n"
        for pieceSize in [1, 2, 5, 13, stream.utf8.count] {
            var parser = ServerSentEventParser()
            var events: [ServerSentEventParser.Event] = []
            let bytes = Array(stream.utf8)
            for start in stride(from: 0, to: bytes.count, by: pieceSize) {
                events += try parser.feed(bytes[start..<min(bytes.count, start + pieceSize)])
            }
            #expect(
                events == [.init(name: "routes", data: #"{"a":1}"#, id: "7"), .init(name: "routes", data: #"{"b":2}"#)], "pieces of \(pieceSize)")
        }
    }

    @Test func heartbeatsAndUnknownFieldsMakeNoEvent() throws {
        var parser = ServerSentEventParser()
        #expect(try parser.feed(Array(":\n\n:\n\nretry: 10\n\n".utf8)).isEmpty)
        #expect(try parser.feed(Array("data: a\ndata: b\n\n".utf8)) == [.init(name: "message", data: "a\nb")])
    }

    @Test func aLineWithoutEndIsRefusedOnceItPassesTheLimit() throws {
        var parser = ServerSentEventParser()
        let chunk = [UInt8](repeating: UInt8(ascii: "x"), count: 1 << 20)
        #expect(throws: ServerSentEventParser.LineTooLong.self) {
            for _ in 0...(ServerSentEventParser.maxLineBytes >> 20) { _ = try parser.feed(chunk) }
        }
    }
}
