// libFuzzer entry: the router's response head parser and chunked body scanner (HTTPWireProbe.response).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTPResponse(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let outcome = HTTPWireProbe.response(UnsafeRawBufferPointer(start: start, count: count))
    if !outcome.violations.isEmpty { fatalError("HTTPWireProbe.response: \(outcome.violations)") }
    return 0
}
