package io.specdec.cluster;

import java.security.SecureRandom;

/**
 * The CPU backend's communicator ids: random bytes of an NCCL id's size. CPU collectives are in-memory, so the id
 * only names the group instance; it lets the protocol run and be tested unchanged without a GPU.
 */
public final class RandomCommunicatorIds implements CommunicatorIds {
    private final SecureRandom random = new SecureRandom();

    @Override
    public byte[] newId() {
        byte[] id = new byte[NCCL_ID_BYTES];
        random.nextBytes(id);
        return id;
    }
}
