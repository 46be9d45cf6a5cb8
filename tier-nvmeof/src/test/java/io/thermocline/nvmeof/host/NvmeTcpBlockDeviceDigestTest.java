package io.thermocline.nvmeof.host;

class NvmeTcpBlockDeviceDigestTest extends NvmeTcpBlockDeviceContract {
    @Override
    int lbaSize() {
        return 4096;
    }

    /** 64 KiB transfers split big requests into many commands, over three small queues; digests on both. */
    @Override
    NvmeTcpHostOptions.Builder tune(NvmeTcpHostOptions.Builder b) {
        return b.headerDigest(true).dataDigest(true).maxTransferSizeInBytes(64 << 10).nrIoQueues(3).queueSize(8);
    }
}
