/// An IPv4 or IPv6 address as a 128-bit value (IPv4 in the low 32 bits).
public struct IPAddress: Sendable, Hashable, CustomStringConvertible {
    public let high: UInt64
    public let low: UInt64
    public let isIPv4: Bool

    public init(ipv4 value: UInt32) {
        high = 0
        low = UInt64(value)
        isIPv4 = true
    }

    public init(ipv6 high: UInt64, _ low: UInt64) {
        self.high = high
        self.low = low
        isIPv4 = false
    }

    /// Parses dotted-quad IPv4 (no leading zeros) or RFC 4291 IPv6 text (with `::` and an
    /// optional trailing dotted quad). Zone ids are rejected.
    public init?(_ text: String) {
        var text = text
        guard let parsed = text.withUTF8({ IPAddress.parse($0) }) else { return nil }
        self = parsed
    }

    public var description: String {
        if isIPv4 {
            let v = UInt32(truncatingIfNeeded: low)
            return "\(v >> 24).\((v >> 16) & 255).\((v >> 8) & 255).\(v & 255)"
        }
        var groups: [UInt16] = []
        for shift in stride(from: 48, through: 0, by: -16) { groups.append(UInt16(truncatingIfNeeded: high >> UInt64(shift))) }
        for shift in stride(from: 48, through: 0, by: -16) { groups.append(UInt16(truncatingIfNeeded: low >> UInt64(shift))) }
        return groups.map { String($0, radix: 16) }.joined(separator: ":")
    }

    static func parse(_ b: UnsafeBufferPointer<UInt8>) -> IPAddress? {
        if b.isEmpty { return nil }
        if b.contains(UInt8(ascii: ":")) { return parseV6(b) }
        return parseV4(b[...]).map { IPAddress(ipv4: $0) }
    }

    static func parseV4(_ b: Slice<UnsafeBufferPointer<UInt8>>) -> UInt32? {
        var result: UInt32 = 0
        var parts = 0
        var value = 0
        var digits = 0
        var leadingZero = false
        for c in b {
            if c == UInt8(ascii: ".") {
                guard digits > 0, parts < 3 else { return nil }
                result = result << 8 | UInt32(value)
                parts += 1
                value = 0
                digits = 0
                leadingZero = false
            } else if c >= 48 && c <= 57 {
                if digits > 0 && leadingZero { return nil }
                if digits == 0 && c == 48 { leadingZero = true }
                value = value * 10 + Int(c - 48)
                digits += 1
                guard value <= 255, digits <= 3 else { return nil }
            } else {
                return nil
            }
        }
        guard parts == 3, digits > 0 else { return nil }
        return result << 8 | UInt32(value)
    }

    static func parseV6(_ b: UnsafeBufferPointer<UInt8>) -> IPAddress? {
        var head: [UInt16] = []
        var tail: [UInt16] = []
        var sawDoubleColon = false
        var i = 0
        let n = b.count
        if n >= 2 && b[0] == UInt8(ascii: ":") && b[1] == UInt8(ascii: ":") {
            sawDoubleColon = true
            i = 2
        } else if b[0] == UInt8(ascii: ":") {
            return nil
        }
        while i < n {
            // Read one group (hex) or a trailing IPv4 dotted quad.
            var j = i
            while j < n && b[j] != UInt8(ascii: ":") { j += 1 }
            let group = b[i..<j]
            if group.isEmpty { return nil }
            if group.contains(UInt8(ascii: ".")) {
                guard j == n, let v4 = parseV4(group) else { return nil }
                let hi = UInt16(truncatingIfNeeded: v4 >> 16), lo = UInt16(truncatingIfNeeded: v4)
                if sawDoubleColon { tail += [hi, lo] } else { head += [hi, lo] }
                i = j
                break
            }
            guard group.count <= 4 else { return nil }
            var v: UInt16 = 0
            for c in group {
                let d: UInt16
                switch c {
                case 48...57: d = UInt16(c - 48)
                case 97...102: d = UInt16(c - 87)
                case 65...70: d = UInt16(c - 55)
                default: return nil
                }
                v = v << 4 | d
            }
            if sawDoubleColon { tail.append(v) } else { head.append(v) }
            i = j
            if i < n {
                // At a colon.
                if i + 1 < n && b[i + 1] == UInt8(ascii: ":") {
                    if sawDoubleColon { return nil }
                    sawDoubleColon = true
                    i += 2
                } else {
                    i += 1
                    if i == n { return nil }  // trailing single colon
                }
            }
        }
        let total = head.count + tail.count
        if sawDoubleColon {
            guard total <= 7 else { return nil }
        } else {
            guard total == 8 else { return nil }
        }
        let groups = head + Array(repeating: 0, count: 8 - total) + tail
        var hi: UInt64 = 0, lo: UInt64 = 0
        for k in 0..<4 { hi = hi << 16 | UInt64(groups[k]) }
        for k in 4..<8 { lo = lo << 16 | UInt64(groups[k]) }
        return IPAddress(ipv6: hi, lo)
    }
}

/// An IP network in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`); a bare address is a
/// single-host network. Host bits in the address are allowed and ignored.
public struct IPNetwork: Sendable, Hashable, CustomStringConvertible {
    public let address: IPAddress
    public let prefixLength: Int
    private let maskHigh: UInt64
    private let maskLow: UInt64

    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(String(parts[0])) else { return nil }
        let maxPrefix = address.isIPv4 ? 32 : 128
        var prefix = maxPrefix
        if parts.count == 2 {
            let p = parts[1]
            guard !p.isEmpty, p.count <= 3, p.allSatisfy({ $0.isASCII && $0.isNumber }), let v = Int(p), v <= maxPrefix else { return nil }
            prefix = v
        }
        self.init(address: address, prefixLength: prefix)
    }

    public init(address: IPAddress, prefixLength: Int) {
        self.address = address
        self.prefixLength = prefixLength
        let bits = address.isIPv4 ? prefixLength + 96 : prefixLength
        maskHigh = bits >= 64 ? ~0 : (bits == 0 ? 0 : ~0 << UInt64(64 - bits))
        let lowBits = bits - 64
        maskLow = lowBits <= 0 ? 0 : (lowBits >= 64 ? ~0 : ~0 << UInt64(64 - lowBits))
    }

    @inline(__always)
    public func contains(_ other: IPAddress) -> Bool {
        other.isIPv4 == address.isIPv4
            && (other.high & maskHigh) == (address.high & maskHigh)
            && (other.low & maskLow) == (address.low & maskLow)
    }

    public var description: String { "\(address)/\(prefixLength)" }
}
