package io.specdec.cpu;

/**
 * One rank's handle on collectives over host memory: the ranks of a group call each operation in the same order, sums
 * run in rank order, so every rank gets the same bits. In one process ({@link CpuCollectives.Member}) or across
 * processes of one host ({@link SocketCollectives}).
 */
public interface HostCollective {

    int rank();

    int size();

    /** Every rank's {@code buffer} becomes the element-wise sum over all ranks (summed in rank order). */
    void allReduceSum(float[] buffer);

    /** {@code out} becomes the concatenation of every rank's {@code local}, in rank order. */
    void allGather(float[] local, float[] out);

    /** Breaks the group for good: waiting ranks and every later collective fail with {@code reason}. */
    void close(String reason);
}
