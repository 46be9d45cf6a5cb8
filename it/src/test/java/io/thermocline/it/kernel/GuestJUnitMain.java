package io.thermocline.it.kernel;

import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.List;
import org.junit.platform.engine.discovery.ClassSelector;
import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.launcher.listeners.SummaryGeneratingListener;
import org.junit.platform.launcher.listeners.TestExecutionSummary;

/**
 * Runs JUnit test classes in a JVM of its own — inside a {@link KernelGuest}, where the kernel
 * under test lives — and prints a summary that the host-side test parses:
 * <pre>
 * GUEST-JUNIT-FAILURE &lt;test&gt;: &lt;exception&gt;     one per failed test, its stack trace after it
 * GUEST-JUNIT found=N succeeded=N failed=N skipped=N aborted=N millis=N
 * </pre>
 * The exit status is 0 when every test found succeeded, 1 otherwise, 2 on bad arguments.
 *
 * <p>Usage: {@code java -cp <test class path> io.thermocline.it.kernel.GuestJUnitMain <class>...}
 */
public final class GuestJUnitMain {

    private GuestJUnitMain() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length == 0) {
            System.err.println("usage: GuestJUnitMain <test class>...");
            System.exit(2);
        }
        List<ClassSelector> selectors = new ArrayList<>();
        for (String name : args) {
            selectors.add(selectClass(Class.forName(name)));
        }
        LauncherDiscoveryRequest request = LauncherDiscoveryRequestBuilder.request().selectors(selectors).build();
        SummaryGeneratingListener listener = new SummaryGeneratingListener();
        Launcher launcher = LauncherFactory.create();
        launcher.execute(request, listener);
        TestExecutionSummary summary = listener.getSummary();
        for (TestExecutionSummary.Failure failure : summary.getFailures()) {
            StringWriter trace = new StringWriter();
            failure.getException().printStackTrace(new PrintWriter(trace));
            System.out.println("GUEST-JUNIT-FAILURE " + failure.getTestIdentifier().getDisplayName() + ": "
                    + failure.getException());
            System.out.println(trace);
        }
        long millis = summary.getTimeFinished() - summary.getTimeStarted();
        System.out.println("GUEST-JUNIT found=" + summary.getTestsFoundCount() + " succeeded="
                + summary.getTestsSucceededCount() + " failed=" + summary.getTotalFailureCount() + " skipped="
                + summary.getTestsSkippedCount() + " aborted=" + summary.getTestsAbortedCount() + " millis=" + millis);
        System.out.flush();
        boolean allPassed = summary.getTestsFoundCount() > 0 && summary.getTotalFailureCount() == 0
                            && summary.getTestsSucceededCount() == summary.getTestsFoundCount();
        System.exit(allPassed ? 0 : 1);
    }
}
