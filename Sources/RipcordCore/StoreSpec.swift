/// Where the controller keeps its state (`store:` in ripcord.yaml).
public enum StateStoreSpec: Sendable, Equatable {
    /// One SQLite file in the state directory: the embedded default, for one controller.
    case sqlite
    /// A PostgreSQL database several controllers share: one leads, the others stand by (`ha:`).
    case postgres(PostgresConnectionSpec)
}

/// How to reach a PostgreSQL database. The URL holds no password when written out (the configuration
/// refuses one); the password comes from the referenced URL, `passwordFile`, `PGPASSWORD` or `~/.pgpass`.
public struct PostgresConnectionSpec: Sendable, Equatable, Codable {
    public var url: SecretValue
    public var passwordFile: String?
    public var sslMode: PostgresSSLMode?
    public var sslRootCert: String?

    public init(url: SecretValue, passwordFile: String? = nil, sslMode: PostgresSSLMode? = nil, sslRootCert: String? = nil) {
        self.url = url
        self.passwordFile = passwordFile
        self.sslMode = sslMode
        self.sslRootCert = sslRootCert
    }
}

/// How controllers sharing a store elect their leader (`ha:`).
public struct HighAvailabilitySpec: Sendable, Equatable {
    /// This controller's name in the lease, the events and `ripcord status` (default: host name and API port).
    public var name: String
    /// Where the other controllers send state-changing calls while this one leads (default: the API address).
    public var advertiseURL: String
    public var renewInterval: TimeSpan
    public var leaseDuration: TimeSpan

    public static let defaultRenewInterval = TimeSpan.seconds(1)
    public static let defaultLeaseDuration = TimeSpan.seconds(5)

    public init(name: String, advertiseURL: String, renewInterval: TimeSpan = defaultRenewInterval, leaseDuration: TimeSpan = defaultLeaseDuration) {
        self.name = name
        self.advertiseURL = advertiseURL
        self.renewInterval = renewInterval
        self.leaseDuration = leaseDuration
    }
}
