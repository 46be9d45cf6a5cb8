package io.thermocline.nvmeof.host;

import io.thermocline.nvmeof.auth.DhchapHostConfig;
import io.thermocline.nvmeof.target.Namespace;
import io.thermocline.nvmeof.target.NvmeTcpTarget;
import io.thermocline.nvmeof.target.Subsystem;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;

/**
 * What the host's authentication and TLS tests share: a Java target on 127.0.0.1 with one
 * subsystem, a file namespace and one admitted host, the host's event loops, and stopping both
 * after each test.
 */
abstract class SecuredTargetTestBase {

    @TempDir
    Path dir;
    NvmeTcpTarget target;
    NvmeEventLoops loops;
    InetSocketAddress address;

    @AfterEach
    void stop() {
        if (loops != null) {
            loops.close();
        }
        if (target != null) {
            target.close();
        }
    }

    /**
     * Starts the target: subsystem {@code nqn} with a {@code namespaceBytes} file namespace,
     * admitting {@code host} (with DH-HMAC-CHAP when {@code auth} is not null); {@code more} adds
     * target options.
     *
     * @return the host's options for it: two I/O queues, a 30 s command timeout
     */
    NvmeTcpHostOptions.Builder startTarget(String nqn, HostIdentity host, long namespaceBytes, DhchapHostConfig auth,
                                           UnaryOperator<NvmeTcpTarget.Builder> more) {
        Subsystem.Builder sub = Subsystem.builder(nqn).namespace(Namespace.openFile(dir.resolve("ns"), namespaceBytes, 4096, false));
        if (auth != null) {
            sub.allowHost(host.hostNqn(), auth);
        } else {
            sub.allowHost(host.hostNqn());
        }
        target = more.apply(NvmeTcpTarget.builder().port(0).eventLoopThreads(1).subsystem(sub.build())).build();
        address = target.start();
        loops = new NvmeEventLoops(1);
        return NvmeTcpHostOptions.builder(address.getHostString(), address.getPort(), nqn)
                .identity(host).nrIoQueues(2).commandTimeout(Duration.ofSeconds(30));
    }
}
