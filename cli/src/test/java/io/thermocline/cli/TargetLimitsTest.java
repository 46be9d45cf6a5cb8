package io.thermocline.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.thermocline.nvmeof.target.NvmeTcpTarget;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** The {@code limits:} section of {@code target serve --config} and the options that override it. */
class TargetLimitsTest {
    @TempDir
    Path dir;

    @Test
    void limitsSection_isRead_andOptionsOverrideIt() throws Exception {
        Path yaml = dir.resolve("target.yaml");
        Files.writeString(yaml, """
                hosts:
                  - nqn: nqn.2014-08.org.nvmexpress:uuid:2b2f4e5c-0000-4000-8000-000000000001
                limits:
                  max-connections: 100
                  max-connections-per-address: 10
                  max-unconnected: 5
                  max-controllers-per-host: 3
                  max-unsent-bytes: 2MiB
                  max-r2t-bytes-per-controller: 16MiB
                  h2c-data-timeout: 10s
                """);
        TargetLimits limits = TargetHostsConfig.load(yaml).limits();
        assertEquals(new TargetLimits(100, 10, 5, 3, 2L << 20, 16L << 20, Duration.ofSeconds(10)), limits);
        TargetLimits merged = limits.overriddenBy(new TargetLimits(null, 20, null, null, null, null, Duration.ofSeconds(3)));
        assertEquals(new TargetLimits(100, 20, 5, 3, 2L << 20, 16L << 20, Duration.ofSeconds(3)), merged);
        merged.apply(NvmeTcpTarget.builder());  // every value in range
    }

    @Test
    void badLimits_areRefused_namingTheKeyAndValue() throws Exception {
        Path yaml = dir.resolve("target.yaml");
        Files.writeString(yaml, "hosts: []\nlimits:\n  max-conections: 3\n");
        assertThatThrownBy(() -> TargetHostsConfig.load(yaml)).hasMessageContaining("unknown key 'max-conections'")
                .hasMessageContaining("max-connections");
        Files.writeString(yaml, "hosts: []\nlimits:\n  h2c-data-timeout: soon\n");
        assertThatThrownBy(() -> TargetHostsConfig.load(yaml)).hasMessageContaining("'h2c-data-timeout' is 'soon'");
        assertThatThrownBy(() -> new TargetLimits(0, null, null, null, null, null, null).apply(NvmeTcpTarget.builder()))
                .hasMessageContaining("max-connections").hasMessageContaining("0").hasMessageContaining("expected 1..");

        StringWriter err = new StringWriter();
        CommandLine cl = ThermoclineCommand.newCommandLine();
        cl.setOut(new PrintWriter(new StringWriter(), true));
        cl.setErr(new PrintWriter(err, true));
        assertEquals(2, cl.execute("target", "serve", "--nqn", "nqn.2024-01.io.thermocline.test:cli", "--file",
                dir.resolve("ns.img").toString(), "--size", "1MiB", "--allow-any-host", "--max-controllers-per-host", "0"));
        assertThat(err.toString()).contains("max-controllers-per-host").contains("0");
        assertThat(Files.exists(dir.resolve("ns.img"))).isFalse();
    }
}
