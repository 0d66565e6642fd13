// libFuzzer entry: the OFREP context JSON reader, checked against Foundation (ContextJSONProbe).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOFREPContext(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let outcome = ContextJSONProbe.probe(Array(UnsafeRawBufferPointer(start: start, count: count)))
    if !outcome.violations.isEmpty { fatalError("ContextJSONProbe: \(outcome.violations)") }
    return 0
}
