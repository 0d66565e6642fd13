/// What a configuration reload changed, named as in ripcord.yaml.
extension ServiceSpec {
    /// The service's keys whose values differ from `other`'s.
    public func changedKeys(from other: ServiceSpec) -> [String] {
        func differs<Value: Equatable>(_ key: KeyPath<ServiceSpec, Value>) -> Bool { self[keyPath: key] != other[keyPath: key] }
        let keys: [(String, Bool)] = [
            ("listen", differs(\.listen)), ("run", differs(\.run)), ("driver", differs(\.driver)), ("instances", differs(\.instances)),
            ("healthCheck", differs(\.healthCheck)), ("startupDeadline", differs(\.startupDeadline)),
            ("progressDeadline", differs(\.progressDeadline)), ("strategy", differs(\.strategy)), ("analysis", differs(\.analysis)),
            ("guardWindow", differs(\.guardWindow)), ("hooks", differs(\.hooks)), ("migrations", differs(\.migrations)), ("flags", differs(\.flags)),
            ("owners", differs(\.owners)), ("drill", differs(\.drill)),
        ]
        return keys.filter(\.1).map(\.0)
    }
}

extension RipcordConfiguration {
    /// Top-level settings a running `serve` keeps until it restarts (a reload applies the services only).
    public func keysNeedingRestart(from running: RipcordConfiguration) -> [String] {
        func differs<Value: Equatable>(_ key: KeyPath<RipcordConfiguration, Value>) -> Bool { self[keyPath: key] != running[keyPath: key] }
        let keys: [(String, Bool)] = [
            ("api.listen", differs(\.api)), ("api.cors", differs(\.corsAllowedOrigins)), ("stateDirectory", differs(\.stateDirectory)),
            ("notifications", differs(\.notifications)), ("traffic", differs(\.traffic)), ("router", differs(\.router)),
            ("router.mode", differs(\.routerMode)), ("store", differs(\.store)), ("ha", differs(\.highAvailability)),
        ]
        return keys.filter(\.1).map(\.0)
    }
}
