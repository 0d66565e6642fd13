import Foundation

/// The evaluation context: who and where a flag is evaluated for (Unleash's "Unleash context").
///
/// Fields are looked up by `contextName`: the standard names (`userId`, `sessionId`,
/// `remoteAddress`, `environment`, `appName`, `currentTime`) read the top-level field first and
/// fall back to `properties[name]`; any other name reads `properties[name]`.
public struct FlagContext: Sendable, Equatable, Hashable, Codable {
    public var userId: String?
    public var sessionId: String?
    public var remoteAddress: String?
    public var environment: String?
    public var appName: String?
    /// The time used by date constraints on `currentTime`; nil means "now".
    public var currentTime: Date?
    public var properties: [String: String]

    public init(
        userId: String? = nil, sessionId: String? = nil, remoteAddress: String? = nil,
        environment: String? = nil, appName: String? = nil, currentTime: Date? = nil,
        properties: [String: String] = [:]
    ) {
        self.userId = userId
        self.sessionId = sessionId
        self.remoteAddress = remoteAddress
        self.environment = environment
        self.appName = appName
        self.currentTime = currentTime
        self.properties = properties
    }

    /// The value of a context field by its Unleash `contextName`.
    public func value(forContextName name: String) -> String? {
        ContextField(name).value(in: self)
    }

    enum CodingKeys: String, CodingKey {
        case userId, sessionId, remoteAddress, environment, appName, currentTime, properties
    }

    /// Decodes the Unleash JSON context shape: `currentTime` is an RFC 3339 string, property
    /// values may be strings, numbers, booleans or null (null properties are dropped).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        userId = try c.decodeIfPresent(LenientOptionalString.self, forKey: .userId)?.value
        sessionId = try c.decodeIfPresent(LenientOptionalString.self, forKey: .sessionId)?.value
        remoteAddress = try c.decodeIfPresent(LenientOptionalString.self, forKey: .remoteAddress)?.value
        environment = try c.decodeIfPresent(LenientOptionalString.self, forKey: .environment)?.value
        appName = try c.decodeIfPresent(LenientOptionalString.self, forKey: .appName)?.value
        if let text = try c.decodeIfPresent(String.self, forKey: .currentTime) {
            guard let seconds = ISO8601Timestamp.parseContextTime(text) else {
                throw DecodingError.dataCorruptedError(
                    forKey: .currentTime, in: c, debugDescription: "currentTime is not an RFC 3339 date-time with an offset: \(text)")
            }
            currentTime = Date(timeIntervalSince1970: seconds)
        } else {
            currentTime = nil
        }
        let raw = try c.decodeIfPresent([String: LenientOptionalString].self, forKey: .properties) ?? [:]
        properties = raw.compactMapValues(\.value)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(userId, forKey: .userId)
        try c.encodeIfPresent(sessionId, forKey: .sessionId)
        try c.encodeIfPresent(remoteAddress, forKey: .remoteAddress)
        try c.encodeIfPresent(environment, forKey: .environment)
        try c.encodeIfPresent(appName, forKey: .appName)
        if let currentTime {
            try c.encode(ISO8601Timestamp.format(currentTime.timeIntervalSince1970), forKey: .currentTime)
        }
        if !properties.isEmpty { try c.encode(properties, forKey: .properties) }
    }
}

/// A context field resolved once at compile time so evaluation does not compare names.
enum ContextField: Sendable, Equatable {
    case userId, sessionId, remoteAddress, environment, appName, currentTime
    case property(String)

    init(_ name: String) {
        switch name {
        case "userId": self = .userId
        case "sessionId": self = .sessionId
        case "remoteAddress": self = .remoteAddress
        case "environment": self = .environment
        case "appName": self = .appName
        case "currentTime": self = .currentTime
        default: self = .property(name)
        }
    }

    var name: String {
        switch self {
        case .userId: "userId"
        case .sessionId: "sessionId"
        case .remoteAddress: "remoteAddress"
        case .environment: "environment"
        case .appName: "appName"
        case .currentTime: "currentTime"
        case .property(let name): name
        }
    }

    @inline(__always)
    private func property(_ context: FlagContext) -> String? {
        context.properties.isEmpty ? nil : context.properties[name]
    }

    /// The field's string value (top-level field first, then properties).
    @inline(__always)
    func value(in context: FlagContext) -> String? {
        switch self {
        case .userId: return context.userId ?? property(context)
        case .sessionId: return context.sessionId ?? property(context)
        case .remoteAddress: return context.remoteAddress ?? property(context)
        case .environment: return context.environment ?? property(context)
        case .appName: return context.appName ?? property(context)
        case .currentTime:
            if let time = context.currentTime { return ISO8601Timestamp.format(time.timeIntervalSince1970) }
            return property(context)
        case .property(let name): return context.properties.isEmpty ? nil : context.properties[name]
        }
    }

    /// The field as a point in time (seconds since 1970). `currentTime` defaults to now.
    @inline(__always)
    func timestamp(in context: FlagContext) -> Double? {
        switch self {
        case .currentTime:
            if let time = context.currentTime { return time.timeIntervalSince1970 }
            if let text = property(context) { return ISO8601Timestamp.parseContextTime(text) }
            return Date().timeIntervalSince1970
        default:
            guard let text = value(in: context) else { return nil }
            return ISO8601Timestamp.parseContextTime(text)
        }
    }
}
