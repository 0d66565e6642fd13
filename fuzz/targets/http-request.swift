// libFuzzer entry: the router's request head parser and chunked body scanner (HTTPWireProbe.request).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTPRequest(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let outcome = HTTPWireProbe.request(UnsafeRawBufferPointer(start: start, count: count))
    if !outcome.violations.isEmpty { fatalError("HTTPWireProbe.request: \(outcome.violations)") }
    return 0
}
