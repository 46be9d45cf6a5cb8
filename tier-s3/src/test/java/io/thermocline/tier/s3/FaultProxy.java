package io.thermocline.tier.s3;

import io.thermocline.tier.testkit.TestTimeouts;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * An HTTP/1.1 proxy on 127.0.0.1 in front of an S3 server that injects faults by rule: an S3
 * error answer ({@code 503 SlowDown}, {@code 500 InternalError}, with the XML body of the S3 API
 * reference, "Error responses"), a reset connection, a stall, a response body cut short or with a
 * flipped bit, a request body with a flipped bit. One virtual thread per client connection, each
 * with its own connection to the server; requests pass through unchanged (the Host header too, so
 * SigV4 signatures still match).
 *
 * <p>A {@link Rule} matches a method and a regular expression on the request target (path and
 * query) and fires on the Nth matching requests, on all of them, or with a probability drawn from
 * a seeded {@link Random}, at most a given number of times. Every rule counts every request it
 * matches, whatever other rules do; the first rule that fires decides; a request no rule fires on
 * passes through. {@link #requests()} records every request (without its
 * Authorization header) and the fault it met. {@link #close()} stops everything, stalled requests
 * included.
 */
public final class FaultProxy implements AutoCloseable {

    /** What happens to a request a rule fires on. */
    public sealed interface Fault {
        /** Answers with an S3 error instead of forwarding (the request body is read first). */
        record Status(int status, String code, String message) implements Fault {
        }

        /** Resets the client connection (RST) before the request reaches the server. */
        record Reset() implements Fault {
        }

        /** Holds the request this long, then forwards it (a client that gave up sees nothing). */
        record Stall(Duration duration) implements Fault {
        }

        /**
         * Forwards, relays the response head and {@code bodyBytes} of its body, then closes the
         * connection in order (FIN): the client receives every byte sent and then the end.
         */
        record Truncate(long bodyBytes) implements Fault {
        }

        /**
         * Forwards, relays the response head and {@code bodyBytes} of its body, then resets the
         * connection (RST): bytes still in the client's receive buffer may be lost too.
         */
        record ResetMidBody(long bodyBytes) implements Fault {
        }

        /**
         * Reads the request, resets the client connection at once (the client sees no answer, as
         * when an answer is lost), and forwards the request to the server only once
         * {@code release} completes, dropping the server's answer: a request the server carries
         * out later than the client's retry of it.
         */
        record Deferred(CompletableFuture<?> release) implements Fault {
        }

        /** Forwards and relays the response with one bit flipped at {@code bodyOffset} of its body. */
        record CorruptResponse(long bodyOffset) implements Fault {
        }

        /** Forwards the request with one bit flipped at {@code bodyOffset} of its body. */
        record CorruptRequest(long bodyOffset) implements Fault {
        }

        /**
         * Forwards and adds headers to the answer (replacing those of the same name): emulates a
         * server feature, e.g. the checksums a server keeps, in front of one that lacks it.
         */
        record AddResponseHeaders(Map<String, String> headers) implements Fault {
        }
    }

    public static Fault slowDown() {
        return new Fault.Status(503, "SlowDown", "Please reduce your request rate.");
    }

    public static Fault internalError() {
        return new Fault.Status(500, "InternalError", "We encountered an internal error. Please try again.");
    }

    public static Fault reset() {
        return new Fault.Reset();
    }

    public static Fault stall(Duration duration) {
        return new Fault.Stall(duration);
    }

    public static Fault truncate(long bodyBytes) {
        return new Fault.Truncate(bodyBytes);
    }

    public static Fault resetMidBody(long bodyBytes) {
        return new Fault.ResetMidBody(bodyBytes);
    }

    public static Fault deferred(CompletableFuture<?> release) {
        return new Fault.Deferred(release);
    }

    public static Fault corruptResponse(long bodyOffset) {
        return new Fault.CorruptResponse(bodyOffset);
    }

    public static Fault corruptRequest(long bodyOffset) {
        return new Fault.CorruptRequest(bodyOffset);
    }

    /** An S3 error answer of any status and code. */
    public static Fault error(int status, String code, String message) {
        return new Fault.Status(status, code, message);
    }

    public static Fault addResponseHeaders(Map<String, String> headers) {
        return new Fault.AddResponseHeaders(Map.copyOf(headers));
    }

    /** When a fault fires. Build with {@link #on}; not thread-safe until added. */
    public static final class Rule {
        private final String method;
        private final Pattern target;
        private Set<Integer> nth;
        private double probability = 1;
        private Random random;
        private int times = Integer.MAX_VALUE;
        private Fault fault;
        private final AtomicInteger matched = new AtomicInteger();
        private final AtomicInteger fired = new AtomicInteger();

        private Rule(String method, String targetRegex) {
            this.method = method;
            this.target = targetRegex == null ? null : Pattern.compile(targetRegex);
        }

        /**
         * Requests with {@code method} (null: any) whose target (path and query) matches
         * {@code targetRegex} in full (null: any).
         */
        public static Rule on(String method, String targetRegex) {
            return new Rule(method, targetRegex);
        }

        /** Fires on the Nth matching requests only, counting from 1. */
        public Rule nth(int... n) {
            this.nth = Arrays.stream(n).boxed().collect(Collectors.toUnmodifiableSet());
            return this;
        }

        /** Fires on each matching request with probability {@code p}, drawn from {@code new Random(seed)}. */
        public Rule probability(double p, long seed) {
            this.probability = p;
            this.random = new Random(seed);
            return this;
        }

        /** Fires at most {@code n} times. */
        public Rule times(int n) {
            this.times = n;
            return this;
        }

        public Rule inject(Fault fault) {
            this.fault = fault;
            return this;
        }

        /** How often the rule has fired. */
        public int fired() {
            return fired.get();
        }

        /** Counts the request if it matches: its number among the matching ones, or 0 if it does not match. */
        private int count(String requestMethod, String requestTarget) {
            if ((method != null && !method.equalsIgnoreCase(requestMethod))
                || (target != null && !target.matcher(requestTarget).matches())) {
                return 0;
            }
            return matched.incrementAndGet();
        }

        /** Whether the rule fires on matching request number {@code n}; counts it as fired if so. */
        private boolean fires(int n) {
            if (nth != null && !nth.contains(n)) {
                return false;
            }
            if (random != null) {
                synchronized (random) {
                    if (random.nextDouble() >= probability) {
                        return false;
                    }
                }
            }
            return fired.getAndUpdate(f -> f < times ? f + 1 : f) < times;
        }
    }

    /**
     * A request as the proxy saw it; header names in lower case, Authorization left out; the
     * status of the server's answer once it came (0 if none did, or the proxy answered itself).
     */
    public record Seen(String method, String target, Map<String, String> headers, Fault fault, AtomicInteger answer) {
        public String header(String name) {
            return headers.get(name.toLowerCase(Locale.ROOT));
        }

        public int status() {
            return answer.get();
        }
    }

    private final ServerSocket server;
    private final InetSocketAddress upstream;
    private final List<Rule> rules = new CopyOnWriteArrayList<>();
    private final List<Seen> seen = new CopyOnWriteArrayList<>();
    private final Set<Socket> sockets = ConcurrentHashMap.newKeySet();
    private final Set<Thread> threads = ConcurrentHashMap.newKeySet();
    private final AtomicInteger requestIds = new AtomicInteger();
    private volatile boolean closed;

    private FaultProxy(ServerSocket server, InetSocketAddress upstream) {
        this.server = server;
        this.upstream = upstream;
    }

    /** Starts a proxy on an ephemeral port of 127.0.0.1 in front of {@code upstream} (an http:// endpoint). */
    public static FaultProxy start(URI upstream) throws IOException {
        ServerSocket server = new ServerSocket(0, 200, InetAddress.getLoopbackAddress());
        FaultProxy proxy = new FaultProxy(server, new InetSocketAddress(upstream.getHost(), upstream.getPort()));
        Thread acceptor = Thread.ofVirtual().name("fault-proxy-accept").start(proxy::acceptLoop);
        proxy.threads.add(acceptor);
        return proxy;
    }

    /** {@code http://127.0.0.1:PORT}. */
    public URI endpoint() {
        return URI.create("http://127.0.0.1:" + server.getLocalPort());
    }

    public Rule add(Rule rule) {
        if (rule.fault == null) {
            throw new IllegalArgumentException("rule without a fault: call inject(...)");
        }
        rules.add(rule);
        return rule;
    }

    public void clearRules() {
        rules.clear();
    }

    /** Every request so far, in the order they arrived. */
    public List<Seen> requests() {
        return List.copyOf(seen);
    }

    public void clearRequests() {
        seen.clear();
    }

    @Override
    public void close() {
        closed = true;
        try {
            server.close();
        } catch (IOException ignored) {
            // closing anyway
        }
        for (Socket s : sockets) {
            closeQuietly(s);
        }
        for (Thread t : threads) {
            t.interrupt();
        }
        for (Thread t : threads) {
            try {
                t.join(TestTimeouts.millis(5));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    private void acceptLoop() {
        while (!closed) {
            Socket client;
            try {
                client = server.accept();
            } catch (IOException e) {
                return; // closed
            }
            sockets.add(client);
            Thread t = Thread.ofVirtual().name("fault-proxy-conn").unstarted(() -> serve(client));
            threads.add(t);
            t.start();
        }
    }

    /** Serves one client connection: request after request until either side closes. */
    private void serve(Socket client) {
        Socket up = null;
        try (client) {
            client.setTcpNoDelay(true);
            InputStream in = new BufferedInputStream(client.getInputStream(), 64 << 10);
            OutputStream out = new BufferedOutputStream(client.getOutputStream(), 64 << 10);
            for (;;) {
                Head request = Head.read(in);
                if (request == null) {
                    return;
                }
                String[] line = request.firstLine.split(" ", 3);
                String method = line[0];
                String target = line.length > 1 ? line[1] : "";
                Fault fault = null;
                synchronized (rules) { // every rule counts every request it matches; the first that fires decides
                    for (Rule rule : rules) {
                        int n = rule.count(method, target);
                        if (n > 0 && fault == null && rule.fires(n)) {
                            fault = rule.fault;
                        }
                    }
                }
                Seen record = new Seen(method, target, request.headersWithout("authorization"), fault, new AtomicInteger());
                seen.add(record);
                boolean expectContinue = "100-continue".equalsIgnoreCase(request.header("expect"));
                switch (fault) {
                    case Fault.Reset r -> {
                        reset(client);
                        return;
                    }
                    case Fault.Status st -> {
                        if (expectContinue) {
                            writeContinue(out);
                        }
                        relayBody(in, OutputStream.nullOutputStream(), request, -1, -1);
                        writeError(out, st, method, target);
                        continue;
                    }
                    case Fault.Deferred d -> {
                        if (expectContinue) {
                            writeContinue(out);
                        }
                        ByteArrayOutputStream body = new ByteArrayOutputStream();
                        relayBody(in, body, request, -1, -1);
                        reset(client);
                        Thread later = Thread.ofVirtual().name("fault-proxy-deferred")
                                .unstarted(() -> forwardLater(d, request, body.toByteArray(), record));
                        threads.add(later);
                        later.start();
                        return;
                    }
                    case Fault.Stall st -> Thread.sleep(st.duration());
                    case null, default -> {
                    }
                }
                if (up == null || up.isClosed()) {
                    up = new Socket();
                    sockets.add(up);
                    up.connect(upstream, 5000);
                    up.setTcpNoDelay(true);
                }
                InputStream upIn = new BufferedInputStream(up.getInputStream(), 64 << 10);
                OutputStream upOut = new BufferedOutputStream(up.getOutputStream(), 64 << 10);
                // The client may wait for 100 Continue before sending its body: answer it here, send
                // the server head and body at once, and drop the server's own interim answers.
                if (expectContinue) {
                    writeContinue(out);
                }
                upOut.write(request.bytes());
                long corruptRequestAt = fault instanceof Fault.CorruptRequest c ? c.bodyOffset() : -1;
                relayBody(in, upOut, request, -1, corruptRequestAt);
                upOut.flush();
                Head response;
                do {
                    response = Head.read(upIn);
                    if (response == null) {
                        throw new EOFException("the server closed the connection before answering " + method + " " + target);
                    }
                } while (response.status() >= 100 && response.status() < 200);
                record.answer().set(response.status());
                if (fault instanceof Fault.AddResponseHeaders add) {
                    response = response.with(add.headers());
                }
                out.write(response.bytes());
                boolean noBody = method.equals("HEAD") || response.status() == 204 || response.status() == 304;
                if (fault instanceof Fault.Truncate || fault instanceof Fault.ResetMidBody) {
                    long bytes = fault instanceof Fault.Truncate t ? t.bodyBytes() : ((Fault.ResetMidBody) fault).bodyBytes();
                    if (!noBody) {
                        relayBody(upIn, out, response, bytes, -1);
                    }
                    out.flush();
                    if (fault instanceof Fault.Truncate) {
                        client.shutdownOutput();
                        closeQuietly(client);
                    } else {
                        reset(client);
                    }
                    closeQuietly(up);
                    return;
                }
                if (!noBody) {
                    relayBody(upIn, out, response, -1, fault instanceof Fault.CorruptResponse c ? c.bodyOffset() : -1);
                }
                out.flush();
                if ("close".equalsIgnoreCase(response.header("connection")) || response.untilClose(method)) {
                    return;
                }
            }
        } catch (IOException | InterruptedException | RuntimeException e) {
            // the client or the server went away, or the proxy is closing: drop the connection
        } finally {
            if (up != null) {
                closeQuietly(up);
                sockets.remove(up);
            }
            sockets.remove(client);
            threads.remove(Thread.currentThread());
        }
    }

    /** For {@link Fault.Deferred}: waits for the release, then sends the request on a connection of its own. */
    private void forwardLater(Fault.Deferred d, Head request, byte[] body, Seen record) {
        Socket up = new Socket();
        sockets.add(up);
        try (up) {
            d.release().get();
            up.connect(upstream, 5000);
            OutputStream upOut = new BufferedOutputStream(up.getOutputStream());
            upOut.write(request.bytes()); // with its body at once, as the relay does for 100-continue
            upOut.write(body);
            upOut.flush();
            InputStream upIn = new BufferedInputStream(up.getInputStream());
            Head response;
            do {
                response = Head.read(upIn);
                if (response == null) {
                    return;
                }
            } while (response.status() >= 100 && response.status() < 200);
            relayBody(upIn, OutputStream.nullOutputStream(), response, -1, -1);
            record.answer().set(response.status());
        } catch (IOException | InterruptedException | RuntimeException | java.util.concurrent.ExecutionException e) {
            // the proxy is closing or the server went away: the request is dropped
        } finally {
            sockets.remove(up);
            threads.remove(Thread.currentThread());
        }
    }

    private static void writeContinue(OutputStream out) throws IOException {
        out.write("HTTP/1.1 100 Continue\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
        out.flush();
    }

    private void writeError(OutputStream out, Fault.Status st, String method, String target) throws IOException {
        String requestId = String.format("FAULT%011d", requestIds.incrementAndGet());
        String path = target.contains("?") ? target.substring(0, target.indexOf('?')) : target;
        byte[] body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>" + st.code() + "</Code><Message>"
                       + st.message() + "</Message><Resource>" + path + "</Resource><RequestId>" + requestId
                       + "</RequestId></Error>").getBytes(StandardCharsets.UTF_8);
        boolean head = method.equals("HEAD");
        String reason = switch (st.status()) {
            case 503 -> "Service Unavailable";
            case 500 -> "Internal Server Error";
            case 404 -> "Not Found";
            case 403 -> "Forbidden";
            default -> "Error";
        };
        out.write(("HTTP/1.1 " + st.status() + " " + reason + "\r\nContent-Type: application/xml\r\nx-amz-request-id: "
                   + requestId + "\r\nContent-Length: " + (head ? 0 : body.length) + "\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
        if (!head) {
            out.write(body);
        }
        out.flush();
    }

    /**
     * Copies a message body framed as {@code head} says, at most {@code limit} body bytes
     * (-1: all), flipping the lowest bit of the byte at {@code corruptAt} (-1: none).
     */
    private static void relayBody(InputStream in, OutputStream out, Head head, long limit, long corruptAt) throws IOException {
        long[] position = {0};
        long remainingLimit = limit < 0 ? Long.MAX_VALUE : limit;
        if ("chunked".equalsIgnoreCase(head.header("transfer-encoding"))) {
            for (;;) {
                String sizeLine = readLine(in);
                if (sizeLine == null) {
                    throw new EOFException("chunked body ended early");
                }
                long size = Long.parseLong(sizeLine.split(";", 2)[0].trim(), 16);
                if (remainingLimit < size) {
                    out.write((sizeLine + "\r\n").getBytes(StandardCharsets.ISO_8859_1));
                    copy(in, out, remainingLimit, position, corruptAt);
                    return;
                }
                out.write((sizeLine + "\r\n").getBytes(StandardCharsets.ISO_8859_1));
                if (size == 0) {
                    for (String trailer = readLine(in); trailer != null; trailer = readLine(in)) {
                        out.write((trailer + "\r\n").getBytes(StandardCharsets.ISO_8859_1));
                        if (trailer.isEmpty()) {
                            return;
                        }
                    }
                    return;
                }
                copy(in, out, size, position, corruptAt);
                remainingLimit -= size;
                out.write((readLine(in) + "\r\n").getBytes(StandardCharsets.ISO_8859_1));
            }
        }
        String length = head.header("content-length");
        long n = length != null ? Long.parseLong(length.trim()) : head.isRequest() ? 0 : Long.MAX_VALUE;
        copy(in, out, Math.min(n, remainingLimit), position, corruptAt);
    }

    private static void copy(InputStream in, OutputStream out, long n, long[] position, long corruptAt) throws IOException {
        byte[] buffer = new byte[64 << 10];
        long left = n;
        while (left > 0) {
            int r = in.read(buffer, 0, (int) Math.min(buffer.length, left));
            if (r < 0) {
                if (n == Long.MAX_VALUE) {
                    return; // a body delimited by the end of the connection
                }
                throw new EOFException("body ended " + left + " bytes early");
            }
            if (corruptAt >= position[0] && corruptAt < position[0] + r) {
                buffer[(int) (corruptAt - position[0])] ^= 1;
            }
            position[0] += r;
            out.write(buffer, 0, r);
            left -= r;
        }
    }

    private static void reset(Socket socket) {
        try {
            socket.setSoLinger(true, 0); // close with RST, as a dropped connection looks to the client
        } catch (IOException ignored) {
            // closing anyway
        }
        closeQuietly(socket);
    }

    private static void closeQuietly(Socket socket) {
        try {
            socket.close();
        } catch (IOException ignored) {
            // nothing left to do
        }
    }

    /** Reads a CRLF-terminated line (ISO-8859-1) without the CRLF; null at the end of the stream. */
    private static String readLine(InputStream in) throws IOException {
        ByteArrayOutputStream line = new ByteArrayOutputStream(128);
        for (;;) {
            int b = in.read();
            if (b < 0) {
                return line.size() == 0 ? null : line.toString(StandardCharsets.ISO_8859_1);
            }
            if (b == '\n') {
                byte[] bytes = line.toByteArray();
                int n = bytes.length > 0 && bytes[bytes.length - 1] == '\r' ? bytes.length - 1 : bytes.length;
                return new String(bytes, 0, n, StandardCharsets.ISO_8859_1);
            }
            line.write(b);
            if (line.size() > 64 << 10) {
                throw new IOException("header line longer than 64 KiB");
            }
        }
    }

    /** A request or response head: the first line and the header lines, as received. */
    private record Head(String firstLine, List<String[]> headers) {

        static Head read(InputStream in) throws IOException {
            String first = readLine(in);
            while (first != null && first.isEmpty()) {
                first = readLine(in);
            }
            if (first == null) {
                return null;
            }
            List<String[]> headers = new ArrayList<>();
            for (String line = readLine(in); line != null && !line.isEmpty(); line = readLine(in)) {
                int colon = line.indexOf(':');
                headers.add(new String[] {line.substring(0, colon), line.substring(colon + 1).trim()});
            }
            return new Head(first, headers);
        }

        boolean isRequest() {
            return !firstLine.startsWith("HTTP/");
        }

        int status() {
            return Integer.parseInt(firstLine.split(" ", 3)[1]);
        }

        /** A response without length or chunking ends when the server closes the connection. */
        boolean untilClose(String method) {
            return !method.equals("HEAD") && status() != 204 && status() != 304 && header("content-length") == null
                   && !"chunked".equalsIgnoreCase(header("transfer-encoding"));
        }

        String header(String name) {
            for (String[] h : headers) {
                if (h[0].equalsIgnoreCase(name)) {
                    return h[1];
                }
            }
            return null;
        }

        Map<String, String> headersWithout(String name) {
            Map<String, String> map = new LinkedHashMap<>();
            for (String[] h : headers) {
                if (!h[0].equalsIgnoreCase(name)) {
                    map.put(h[0].toLowerCase(Locale.ROOT), h[1]);
                }
            }
            return Map.copyOf(map);
        }

        Head with(Map<String, String> extra) {
            List<String[]> all = new ArrayList<>();
            for (String[] h : headers) {
                if (extra.keySet().stream().noneMatch(h[0]::equalsIgnoreCase)) {
                    all.add(h);
                }
            }
            extra.forEach((name, value) -> all.add(new String[] {name, value}));
            return new Head(firstLine, all);
        }

        byte[] bytes() {
            StringBuilder b = new StringBuilder(firstLine).append("\r\n");
            for (String[] h : headers) {
                b.append(h[0]).append(": ").append(h[1]).append("\r\n");
            }
            return b.append("\r\n").toString().getBytes(StandardCharsets.ISO_8859_1);
        }
    }
}
