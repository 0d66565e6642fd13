import NIOCore

extension ByteBufferAllocator {
    /// A buffer of at least `capacity` for the next message: `spare`'s storage when nothing else holds it
    /// any more (a socket's pending write may), else a new one. One allocation fewer per request.
    func buffer(reusing spare: consuming ByteBuffer?, capacity: Int) -> ByteBuffer {
        guard let reused = spare.take() else { return buffer(capacity: capacity) }
        var buffer = consume reused  // the only copy, so `clear` finds the storage unshared
        buffer.clear(minimumCapacity: capacity)
        return buffer
    }
}
