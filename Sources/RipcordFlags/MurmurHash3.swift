/// MurmurHash3, x86 32-bit variant (Austin Appleby's public-domain algorithm), and the
/// "normalized hash" Unleash builds on it for rollouts and variants.
public enum MurmurHash3 {
    /// The seed Unleash uses when hashing for variant selection.
    public static let variantSeed: UInt32 = 86_028_157

    /// Hashes `bytes` with `seed`.
    public static func hash32<Bytes: Sequence>(_ bytes: Bytes, seed: UInt32 = 0) -> UInt32 where Bytes.Element == UInt8 {
        var state = Murmur3State(seed: seed)
        let array = Array(bytes)
        array.withUnsafeBytes { state.combine($0) }
        return state.finalize()
    }

    /// Hashes the UTF-8 bytes of `text` with `seed`.
    public static func hash32(_ text: String, seed: UInt32 = 0) -> UInt32 {
        var state = Murmur3State(seed: seed)
        var text = text
        text.withUTF8 { state.combine(UnsafeRawBufferPointer($0)) }
        return state.finalize()
    }

    /// Unleash's normalized value: `murmur3("groupId:identifier", seed) % modulus + 1`,
    /// i.e. a number in 1...modulus.
    public static func normalizedHash(groupId: String, identifier: String, modulus: UInt32 = 100, seed: UInt32 = 0) -> UInt32 {
        let prefix = NormalizedHashPrefix(groupId: groupId)
        return prefix.normalized(identifier, modulus: modulus, seed: seed)
    }
}

/// Streaming MurmurHash3 x86_32 state, so "group:" and the identifier can be hashed without
/// concatenating them into a new string.
struct Murmur3State {
    private var h: UInt32
    private var tail: UInt32 = 0
    private var tailCount: Int = 0
    private var length: Int = 0

    private static let c1: UInt32 = 0xcc9e_2d51
    private static let c2: UInt32 = 0x1b87_3593

    init(seed: UInt32) { h = seed }

    @inline(__always)
    private static func mixK(_ k: UInt32) -> UInt32 {
        var k = k &* c1
        k = (k << 15) | (k >> 17)
        return k &* c2
    }

    @inline(__always)
    private mutating func block(_ k: UInt32) {
        h ^= Self.mixK(k)
        h = (h << 13) | (h >> 19)
        h = h &* 5 &+ 0xe654_6b64
    }

    @inline(__always)
    mutating func combine(_ bytes: UnsafeRawBufferPointer) {
        let count = bytes.count
        guard count > 0 else { return }
        length += count
        var i = 0
        // Complete a partially filled block first.
        while tailCount > 0 && tailCount < 4 && i < count {
            tail |= UInt32(bytes[i]) << (8 * UInt32(tailCount))
            tailCount += 1
            i += 1
            if tailCount == 4 {
                block(tail)
                tail = 0
                tailCount = 0
            }
        }
        while i + 4 <= count {
            let k = UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24
            block(k)
            i += 4
        }
        while i < count {
            tail |= UInt32(bytes[i]) << (8 * UInt32(tailCount))
            tailCount += 1
            i += 1
        }
    }

    @inline(__always)
    func finalize() -> UInt32 {
        var h = self.h
        if tailCount > 0 { h ^= Self.mixK(tail) }
        h ^= UInt32(truncatingIfNeeded: length)
        h ^= h >> 16
        h = h &* 0x85eb_ca6b
        h ^= h >> 13
        h = h &* 0xc2b2_ae35
        h ^= h >> 16
        return h
    }
}

/// The precomputed "groupId:" part of a normalized hash.
struct NormalizedHashPrefix: Sendable {
    let bytes: [UInt8]

    init(groupId: String) {
        bytes = Array(groupId.utf8) + [UInt8(ascii: ":")]
    }

    @inline(__always)
    func normalized(_ identifier: String, modulus: UInt32, seed: UInt32) -> UInt32 {
        var state = Murmur3State(seed: seed)
        bytes.withUnsafeBytes { state.combine($0) }
        var identifier = identifier
        identifier.withUTF8 { state.combine(UnsafeRawBufferPointer($0)) }
        return state.finalize() % modulus + 1
    }
}
