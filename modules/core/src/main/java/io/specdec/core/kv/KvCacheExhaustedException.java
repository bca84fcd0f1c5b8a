package io.specdec.core.kv;

/** No free KV blocks are left: the scheduler must wait for sequences to finish or preempt one. */
public class KvCacheExhaustedException extends RuntimeException {
    public KvCacheExhaustedException(String message) {
        super(message);
    }
}
