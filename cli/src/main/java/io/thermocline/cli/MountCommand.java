package io.thermocline.cli;

import io.thermocline.engine.TierEngine;
import io.thermocline.mount.MountException;
import io.thermocline.mount.ThermoclineMount;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code thermocline mount}: every object of the engine as a read-only file, through FUSE, in the
 * foreground until Ctrl-C, SIGTERM or {@code fusermount3 -u}.
 */
@Command(name = "mount",
        mixinStandardHelpOptions = true,
        usageHelpAutoWidth = true,
        description = {
            "Mounts every object of the engine as a read-only file at its key's path, whichever tier holds it, "
            + "for loaders that read a path (vLLM, SGLang, transformers, safetensors' safe_open).",
            "",
            "Reads go through the engine: from the fastest tier holding the object, counted as heat in the host's "
            + "shared region, read through from fabric or S3 with no staging first (and promoted as the policy "
            + "decides), and verified against each chunk's CRC32C. A range that no copy can give verified answers EIO, "
            + "and the log names the key and tier; wrong bytes are never returned.",
            "",
            "It runs in the foreground, as the owner of the data root or attached to the running owner, until Ctrl-C, "
            + "SIGTERM or 'fusermount3 -u MOUNTPOINT', and then unmounts. A mount left behind by a killed process "
            + "('Transport endpoint is not connected') is detached by the next mount at the same place.",
            "Objects put while it runs appear within --refresh; objects another tool uploaded to the backing S3 tier "
            + "are files too (listed with their S3 size, read through and imported on first open), and new ones appear "
            + "within --backing-refresh. Keys that cannot be paths (a key that is also a "
            + "directory of other keys, a segment over 255 bytes) are under .thermocline-escaped/ (docs/mount.md).",
            ""},
        footer = {
            "",
            "Examples:",
            "  mkdir -p /mnt/models && thermocline mount /mnt/models --config /etc/thermocline.yaml",
            "  python -c 'from safetensors import safe_open; safe_open(\"/mnt/models/llama-3-8b/model-00001-of-00004.safetensors\", \"np\")'",
            "  vllm serve /mnt/models/models/llama-3-8b/",
            "  fusermount3 -u /mnt/models      (from another terminal: the mount command then exits 0)",
            "",
            "Exit codes: 0 unmounted (from outside, or after Ctrl-C or SIGTERM); 1 the mount failed; 2 usage error (bad option, mount point or configuration); "
            + "3 FUSE is unavailable here (/dev/fuse, fusermount3 from Debian's fuse3, or libfuse3)."})
final class MountCommand implements Callable<Integer> {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Mixin
    EngineOptions engineOptions;

    @Parameters(index = "0", paramLabel = "MOUNTPOINT", description = "An existing empty directory.")
    Path mountPoint;

    @Option(names = "--allow-other", description = "Let other users read the mount too (off by default; needs root, or "
            + "user_allow_other in /etc/fuse.conf). The files' modes (0444, directories 0555) still apply.")
    boolean allowOther;

    @Option(names = "--refresh", defaultValue = "1s", paramLabel = "DURATION", converter = DurationConverter.class,
            description = "How old the listing of the engine's objects may get before a lookup that misses or a directory "
            + "listing makes it anew (default: ${DEFAULT-VALUE}).")
    Duration refresh;

    @Option(names = "--backing-refresh", defaultValue = "30s", paramLabel = "DURATION", converter = DurationConverter.class,
            description = "How old the listing of the backing tier (S3), for objects another tool uploaded that the engine "
            + "has not seen yet, may get before a refresh lists it anew; each listing is one ListObjectsV2 request per "
            + "1,000 keys (default: ${DEFAULT-VALUE}).")
    Duration backingRefresh;

    @Override
    public Integer call() throws Exception {
        CommandLine cmd = spec.commandLine();
        PrintWriter out = cmd.getOut();
        PrintWriter err = cmd.getErr();
        var unavailable = ThermoclineMount.unavailableReason();
        if (unavailable.isPresent()) {
            err.println("thermocline mount: FUSE is unavailable here: " + unavailable.get());
            err.flush();
            return 3;
        }
        var config = engineOptions.load(cmd);
        CountDownLatch stopped = new CountDownLatch(1);
        try (TierEngine engine = TierEngine.open(config)) {
            ThermoclineMount mount;
            try {
                mount = ThermoclineMount.mount(engine, mountPoint,
                        ThermoclineMount.Options.defaults().withAllowOther(allowOther).withRefreshInterval(refresh)
                                .withBackingListInterval(backingRefresh));
            } catch (MountException e) {
                err.println("thermocline mount: " + e.getMessage());
                err.flush();
                return switch (e.kind()) {
                    case UNAVAILABLE -> 3;
                    case MOUNT_POINT -> 2;
                    case FAILED -> 1;
                };
            }
            // Ctrl-C and SIGTERM end the loop below, which unmounts and closes the engine, and the command
            // exits 0; the shutdown hook covers any other way the JVM ends (System.exit elsewhere, SIGHUP)
            CountDownLatch signalled = new CountDownLatch(1);
            String[] signal = new String[1];
            List<SignalHandlers.Restore> handlers = SignalHandlers.onStop(name -> {
                signal[0] = name;
                signalled.countDown();
            });
            Thread hook = new Thread(() -> {
                mount.close();
                try {
                    stopped.await(30, TimeUnit.SECONDS); // let the main thread close the engine
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }, "thermocline-unmount");
            Runtime.getRuntime().addShutdownHook(hook);
            out.println("mounted " + engine.list("").size() + " objects at " + mount.mountPoint() + " ("
                    + (engine.isOwner() ? "owner of " : "attached to the owner of ") + engine.dataRoot()
                    + "); Ctrl-C or 'fusermount3 -u " + mount.mountPoint() + "' unmounts");
            out.flush();
            try {
                while (mount.isMounted() && !signalled.await(500, TimeUnit.MILLISECONDS)) {
                    // polled: 'fusermount3 -u' from outside ends the mount without telling this process
                }
                if (signal[0] != null) {
                    out.println("SIG" + signal[0] + ": unmounting " + mount.mountPoint());
                    out.flush();
                    mount.close();
                }
                out.println("unmounted " + mount.mountPoint());
                out.flush();
            } finally {
                mount.close();
                handlers.forEach(SignalHandlers.Restore::restore);
                try {
                    Runtime.getRuntime().removeShutdownHook(hook);
                } catch (IllegalStateException shuttingDown) {
                    // the hook is running: it waits for the engine below to close
                }
            }
        } finally {
            stopped.countDown();
        }
        return 0;
    }
}
