/** Thermocline's LOCAL tier: objects as files, and files or block devices as BlockDevices. */
module io.thermocline.tier.local {
    requires transitive io.thermocline.tier.api;
    requires org.slf4j;
    requires jdk.unsupported; // com.sun.nio.file.ExtendedOpenOption.DIRECT (O_DIRECT)
    exports io.thermocline.tier.local;
}
