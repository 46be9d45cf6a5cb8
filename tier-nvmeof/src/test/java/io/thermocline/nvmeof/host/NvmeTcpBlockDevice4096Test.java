package io.thermocline.nvmeof.host;

class NvmeTcpBlockDevice4096Test extends NvmeTcpBlockDeviceContract {
    @Override
    int lbaSize() {
        return 4096;
    }
}
