package io.thermocline.nvmeof.kernel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.thermocline.nvmeof.kernel.KernelNvmeOptions.Transport;
import io.thermocline.tier.InvalidArgumentException;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class KernelNvmeOptionsTest {

    private static KernelNvmeOptions.Builder rdma() {
        return KernelNvmeOptions.builder(Transport.RDMA, "192.0.2.7", "4420", "nqn.2026-11.io.thermocline:a");
    }

    @Test
    void defaults_passTheKernelsTimeouts_andNothingElse() {
        assertThat(rdma().build().connectArguments(true)).containsExactly("-t", "rdma", "-a", "192.0.2.7", "-s", "4420",
                "-n", "nqn.2026-11.io.thermocline:a", "--keep-alive-tmo=5", "--reconnect-delay=10",
                "--ctrl-loss-tmo=600");
    }

    @Test
    void everyOption_mapsToItsNvmeCliFlag() {
        KernelNvmeOptions o = KernelNvmeOptions.builder(Transport.TCP, "127.0.0.1", "4420", "nqn.x")
                .hostNqn("nqn.h").hostId("0c0ffee0-0000-4000-8000-000000000001").hostTraddr("127.0.0.2")
                .nrIoQueues(4).nrWriteQueues(2).queueSize(256).keepAliveTimeout(Duration.ofSeconds(2))
                .reconnectDelay(Duration.ofSeconds(1)).ctrlLossTimeout(KernelNvmeOptions.OFF)
                .fastIoFailTimeout(Duration.ofSeconds(0)).headerDigest(true).dataDigest(true).build();
        assertThat(String.join(" ", o.connectArguments(true))).isEqualTo("-t tcp -a 127.0.0.1 -s 4420 -n nqn.x"
                + " -q nqn.h -I 0c0ffee0-0000-4000-8000-000000000001 -w 127.0.0.2 --nr-io-queues=4"
                + " --nr-write-queues=2 --queue-size=256 --keep-alive-tmo=2 --reconnect-delay=1 --ctrl-loss-tmo=-1"
                + " --fast_io_fail_tmo=0 --hdr-digest --data-digest");
        assertThat(o.connectArguments(false)).noneMatch(a -> a.startsWith("--fast_io_fail_tmo"));
        assertThat(o.toBuilder().build()).isEqualTo(o);
    }

    @Test
    void fibreChannel_needsNoServiceId() {
        KernelNvmeOptions fc = KernelNvmeOptions.builder(Transport.FC, "nn-0x200000109b579ef3:pn-0x100000109b579ef3",
                null, "nqn.fc").hostTraddr("nn-0x20000090fae0b5f5:pn-0x10000090fae0b5f5").build();
        assertThat(fc.connectArguments(false)).containsSubsequence("-t", "fc", "-a",
                "nn-0x200000109b579ef3:pn-0x100000109b579ef3", "-n", "nqn.fc", "-w").doesNotContain("-s");
    }

    @Test
    void badValues_areRejectedWithTheirNameValueAndWhatWasExpected() {
        assertThatThrownBy(() -> rdma().nqn("nqn.a,nr_io_queues=64").build())
                .isInstanceOf(InvalidArgumentException.class)
                .hasMessage("nqn: nqn.a,nr_io_queues=64 (expected: printable ASCII without spaces or commas)");
        assertThatThrownBy(() -> rdma().headerDigest(true).build())
                .hasMessage("hdr-digest/data-digest: rdma (expected: tcp, the only transport with digests)");
        assertThatThrownBy(() -> rdma().keepAliveTimeout(Duration.ofMillis(1500)).build())
                .hasMessage("keep-alive-tmo: PT1.5S (expected: whole seconds)");
        assertThatThrownBy(() -> rdma().ctrlLossTimeout(Duration.ofSeconds(-2)).build())
                .hasMessage("ctrl-loss-tmo: PT-2S (expected: whole seconds, or -1 s for off)");
        assertThatThrownBy(() -> rdma().queueSize(8).build()).hasMessage("queue-size: 8 (expected: 16..1024)");
        assertThatThrownBy(() -> rdma().trsvcid(null).build()).hasMessage("trsvcid: null (expected: a non-empty string)");
        assertThatThrownBy(() -> rdma().nsid(0).build()).hasMessage("nsid: 0 (expected: a namespace ID, 1 or more)");
        assertThatThrownBy(() -> Transport.of("roce")).hasMessage("transport: roce (expected: tcp, rdma or fc)");
        assertThat(Transport.of("RDMA")).isEqualTo(Transport.RDMA);
    }
}
