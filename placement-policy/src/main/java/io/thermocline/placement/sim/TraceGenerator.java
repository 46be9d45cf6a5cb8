package io.thermocline.placement.sim;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Synthetic traces of AI-storage workloads, deterministic for a seed. Sizes are realistic:
 * dataset and model shards of 16 MiB to 512 MiB (log-uniform), checkpoint shards of 1 to 4 GiB.
 * Accesses are a few tens of milliseconds apart.
 *
 * <ul>
 *   <li>{@code zipf}: reads of 2,000 dataset shards with Zipf(0.9) popularity; a quarter are ranged
 *       reads of part of a shard.</li>
 *   <li>{@code scan}: the same kind of hot reads over 1,000 shards, interrupted every 4,000 reads
 *       by a scan that reads 600 cold shards once each.</li>
 *   <li>{@code model-load}: 16 models of 20 to 80 shards; a load reads every shard once, then a hot
 *       subset (a tenth of the shards) over and over; models are chosen with Zipf(1.0) popularity.</li>
 *   <li>{@code checkpoint}: Zipf reads of 1,500 dataset shards; every 2,500 reads a checkpoint of 8
 *       shards of 1–4 GiB is written; one checkpoint in ten is read back once, later.</li>
 *   <li>{@code mix}: the four above, each at a quarter of the length, with distinct key prefixes,
 *       interleaved in random blocks of 50 accesses.</li>
 * </ul>
 */
public final class TraceGenerator {

    /** The kinds {@link #generate} knows. */
    public static final List<String> KINDS = List.of("zipf", "scan", "model-load", "checkpoint", "mix");

    private static final long MIB = 1L << 20;
    private static final long GIB = 1L << 30;

    private TraceGenerator() {
    }

    /**
     * @param kind     one of {@link #KINDS}
     * @param seed     the random seed
     * @param accesses roughly how many accesses (at least 1,000)
     */
    public static Trace generate(String kind, long seed, int accesses) {
        if (accesses < 1000) {
            throw new IllegalArgumentException("accesses " + accesses + " (expected: >= 1000)");
        }
        List<Acc> out = switch (kind) {
            case "zipf" -> zipf(new SplittableRandom(seed), accesses, "data/");
            case "scan" -> scan(new SplittableRandom(seed), accesses, "data/");
            case "model-load" -> modelLoad(new SplittableRandom(seed), accesses, "models/");
            case "checkpoint" -> checkpoint(new SplittableRandom(seed), accesses, "train/");
            case "mix" -> mix(new SplittableRandom(seed), accesses);
            default -> throw new IllegalArgumentException("kind '" + kind + "' (expected: one of " + KINDS + ")");
        };
        SplittableRandom clock = new SplittableRandom(seed ^ 0x5deece66dL);
        TraceParser.Builder b = new TraceParser.Builder();
        long t = 1_700_000_000_000L;
        for (Acc a : out) {
            t += 5 + clock.nextInt(60);
            b.add(t, a.key, a.offset, a.length, a.write);
        }
        return b.build();
    }

    /** Writes {@code trace} in the CSV trace format, with a header comment. */
    public static String toCsv(Trace trace, String comment) {
        StringBuilder s = new StringBuilder();
        s.append("# ").append(comment).append('\n').append("# timestamp_ms,key,offset,length,op\n");
        for (int i = 0; i < trace.length(); i++) {
            s.append(trace.timestampMillis()[i]).append(',').append(trace.keys().get(trace.keyIds()[i])).append(',')
                    .append(trace.offsets()[i]).append(',').append(trace.lengths()[i]).append(',')
                    .append(trace.writes()[i] ? 'W' : 'R').append('\n');
        }
        return s.toString();
    }

    private record Acc(String key, long offset, long length, boolean write) {
    }

    private static long shardSize(SplittableRandom r, long min, long max) {
        double lo = Math.log(min);
        double hi = Math.log(max);
        return (long) Math.exp(lo + r.nextDouble() * (hi - lo)) / MIB * MIB;
    }

    /** Zipf(s) ranks 0..n-1 by inverse CDF over a precomputed table. */
    private static final class Zipf {
        final double[] cdf;

        Zipf(int n, double s) {
            cdf = new double[n];
            double sum = 0;
            for (int i = 0; i < n; i++) {
                sum += 1 / Math.pow(i + 1, s);
                cdf[i] = sum;
            }
            for (int i = 0; i < n; i++) {
                cdf[i] /= sum;
            }
        }

        int next(SplittableRandom r) {
            int i = java.util.Arrays.binarySearch(cdf, r.nextDouble());
            return Math.min(cdf.length - 1, i < 0 ? -i - 1 : i);
        }
    }

    private static int[] permutation(SplittableRandom r, int n) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) {
            p[i] = i;
        }
        for (int i = n - 1; i > 0; i--) {
            int j = r.nextInt(i + 1);
            int t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        return p;
    }

    private static Acc read(SplittableRandom r, String key, long size, boolean ranged) {
        if (!ranged) {
            return new Acc(key, 0, size, false);
        }
        long len = Math.max(MIB, size / 4 + r.nextLong(Math.max(1, size / 2)));
        long off = r.nextLong(Math.max(1, size - len + 1));
        return new Acc(key, off, Math.min(len, size - off), false);
    }

    private static List<Acc> zipf(SplittableRandom r, int accesses, String prefix) {
        int n = 2000;
        long[] sizes = new long[n];
        for (int i = 0; i < n; i++) {
            sizes[i] = shardSize(r, 16 * MIB, 512 * MIB);
        }
        int[] rank = permutation(r, n);
        Zipf z = new Zipf(n, 0.9);
        List<Acc> out = new ArrayList<>(accesses);
        for (int i = 0; i < accesses; i++) {
            int id = rank[z.next(r)];
            out.add(read(r, key(prefix, "shard", id), sizes[id], r.nextInt(4) == 0));
        }
        return out;
    }

    private static List<Acc> scan(SplittableRandom r, int accesses, String prefix) {
        int n = 1000;
        long[] sizes = new long[n];
        for (int i = 0; i < n; i++) {
            sizes[i] = shardSize(r, 16 * MIB, 512 * MIB);
        }
        int[] rank = permutation(r, n);
        Zipf z = new Zipf(n, 0.9);
        List<Acc> out = new ArrayList<>(accesses);
        int scans = 0;
        int sinceScan = 0;
        while (out.size() < accesses) {
            if (sinceScan == 4000) {
                for (int j = 0; j < 600 && out.size() < accesses; j++) {
                    out.add(new Acc(key(prefix + "cold/scan" + scans + "/", "part", j), 0, shardSize(r, 16 * MIB, 512 * MIB), false));
                }
                scans++;
                sinceScan = 0;
                continue;
            }
            int id = rank[z.next(r)];
            out.add(read(r, key(prefix, "shard", id), sizes[id], r.nextInt(4) == 0));
            sinceScan++;
        }
        return out;
    }

    private static List<Acc> modelLoad(SplittableRandom r, int accesses, String prefix) {
        int models = 16;
        long[][] sizes = new long[models][];
        for (int m = 0; m < models; m++) {
            sizes[m] = new long[20 + r.nextInt(61)];
            for (int s = 0; s < sizes[m].length; s++) {
                sizes[m][s] = shardSize(r, 32 * MIB, 512 * MIB);
            }
        }
        Zipf z = new Zipf(models, 1.0);
        List<Acc> out = new ArrayList<>(accesses);
        while (out.size() < accesses) {
            int m = z.next(r);
            int shards = sizes[m].length;
            for (int s = 0; s < shards; s++) {
                out.add(new Acc(key(prefix + "model" + m + "/", "shard", s), 0, sizes[m][s], false));
            }
            int hot = Math.max(2, shards / 10);
            int[] subset = permutation(new SplittableRandom(m * 7919L), shards);
            int reads = hot * (4 + r.nextInt(12));
            for (int j = 0; j < reads; j++) {
                int s = subset[r.nextInt(hot)];
                out.add(read(r, key(prefix + "model" + m + "/", "shard", s), sizes[m][s], r.nextInt(4) == 0));
            }
        }
        return out.subList(0, accesses);
    }

    private static List<Acc> checkpoint(SplittableRandom r, int accesses, String prefix) {
        int n = 1500;
        long[] sizes = new long[n];
        for (int i = 0; i < n; i++) {
            sizes[i] = shardSize(r, 16 * MIB, 512 * MIB);
        }
        int[] rank = permutation(r, n);
        Zipf z = new Zipf(n, 0.9);
        List<Acc> out = new ArrayList<>(accesses);
        List<Acc> restores = new ArrayList<>();
        int step = 0;
        int sinceCkpt = 0;
        while (out.size() < accesses) {
            if (sinceCkpt == 2500) {
                boolean restore = r.nextInt(10) == 0;
                for (int s = 0; s < 8; s++) {
                    long size = GIB + r.nextLong(3 * GIB) / MIB * MIB;
                    String key = key(prefix + "ckpt/step" + step + "/", "rank", s);
                    out.add(new Acc(key, 0, size, true));
                    if (restore) {
                        restores.add(new Acc(key, 0, size, false));
                    }
                }
                step++;
                sinceCkpt = 0;
                continue;
            }
            if (!restores.isEmpty() && r.nextInt(400) == 0) {
                out.addAll(restores);
                restores.clear();
            }
            int id = rank[z.next(r)];
            out.add(read(r, key(prefix + "data/", "shard", id), sizes[id], r.nextInt(4) == 0));
            sinceCkpt++;
        }
        return out.subList(0, accesses);
    }

    private static List<Acc> mix(SplittableRandom r, int accesses) {
        int part = accesses / 4;
        List<List<Acc>> parts = List.of(zipf(r.split(), part, "mix/zipf/"), scan(r.split(), part, "mix/scan/"),
                modelLoad(r.split(), part, "mix/models/"), checkpoint(r.split(), part, "mix/train/"));
        int[] at = new int[parts.size()];
        List<Acc> out = new ArrayList<>(accesses);
        while (out.size() < 4 * part) {
            int p = r.nextInt(parts.size());
            if (at[p] >= parts.get(p).size()) {
                continue;
            }
            int end = Math.min(parts.get(p).size(), at[p] + 50);
            out.addAll(parts.get(p).subList(at[p], end));
            at[p] = end;
        }
        return out;
    }

    private static String key(String prefix, String name, int i) {
        return prefix + name + String.format(Locale.ROOT, "-%05d", i);
    }
}
