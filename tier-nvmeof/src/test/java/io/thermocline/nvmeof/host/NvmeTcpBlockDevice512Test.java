package io.thermocline.nvmeof.host;

class NvmeTcpBlockDevice512Test extends NvmeTcpBlockDeviceContract {
    @Override
    int lbaSize() {
        return 512;
    }
}
