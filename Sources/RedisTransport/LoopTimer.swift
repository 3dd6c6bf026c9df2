// LoopTimer: a libuv timer owned by a Swift object, on its loop's thread.

import CSupport

/// A one-shot or repeating timer. Loop thread only, from creation to `close`.
final class LoopTimer {
    private var handle: OpaquePointer?
    private let action: () -> Void

    /// Creates a stopped timer that runs `action` on the loop thread when it fires.
    init(on loop: EventLoop, _ action: @escaping () -> Void) {
        self.action = action
        // The C timer borrows an unretained pointer to self; `close` stops it before self can go.
        handle = dc_timer_create(loop.handle, { privdata in
            Unmanaged<LoopTimer>.fromOpaque(privdata!).takeUnretainedValue().action()
        }, nil)
        dc_timer_set_privdata(handle, Unmanaged.passUnretained(self).toOpaque())
    }

    deinit {
        if let handle { dc_timer_close(handle) }
    }

    /// Fires after `delay`, then every `interval` if given.
    func start(after delay: Duration, repeating interval: Duration? = nil) {
        guard let handle else { return }
        dc_timer_start(handle, delay.roundedUpMilliseconds, interval?.roundedUpMilliseconds ?? 0)
    }

    func stop() {
        if let handle { dc_timer_stop(handle) }
    }

    /// Releases the libuv handle; the timer never fires again.
    func close() {
        if let handle { dc_timer_close(handle) }
        handle = nil
    }
}
