package io.thermocline.placement.sim;

import io.thermocline.placement.Admission;
import io.thermocline.placement.FrequencySketch;
import io.thermocline.placement.HeatTracker;
import io.thermocline.placement.PolicyConfig;
import java.time.Instant;
import java.time.InstantSource;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;

/**
 * Thermocline's fast-tier policy: size-aware TinyLFU admission (after Einziger, Friedman, Manes,
 * "TinyLFU: A Highly Efficient Cache Admission Policy", ACM ToS 2017) over a frequency-ordered
 * resident set, with decayed heat breaking ties.
 *
 * <ul>
 *   <li>Every read counts in a {@link FrequencySketch} sized to the number of objects the tier
 *       holds (capacity over mean object size, times {@value #SKETCH_WIDTH_PER_RESIDENT}) and aged every
 *       {@value #SKETCH_SAMPLE_PER_RESIDENT} times that many reads, and in a
 *       {@link HeatTracker} whose clock is the trace's timestamps.</li>
 *   <li>On a read miss the object is a candidate. If it fits in free space it is placed. Otherwise
 *       the victims are the residents of lowest value (then lowest decayed byte heat per byte, then
 *       least recently read) that free enough room, and the candidate is placed only if
 *       {@code frequency × size} of the candidate exceeds the sum of {@code value × size} over the
 *       victims (the bytes it would serve against the bytes they would); on a tie, a candidate read
 *       at least twice wins, so recency decides among equals ({@link Admission#admits}). A scan's
 *       objects, and a model-load burst's shards read once, arrive with frequency 1 and cannot
 *       displace objects read more often.</li>
 *   <li>A resident's value is its estimated frequency discounted by how many accesses it has gone
 *       unread, beyond {@value Admission#IDLE_WINDOW_PER_RESIDENT} times as many as the tier holds
 *       objects ({@link Admission#residentValue}): the hot shards of a model read a dozen times
 *       during one load, and not again until that model is next loaded, give way once the load is
 *       well past, rather than holding room until the sketch ages.</li>
 *   <li>A candidate read again within as many reads as the tier holds objects is placed outright,
 *       victims chosen the same way: short-term reuse (a model's hot shards right after its load),
 *       the role of W-TinyLFU's admission window, without letting objects read once in.</li>
 *   <li>Writes are not placed unless the object has recent read history and fits in free space: a
 *       checkpoint written and rarely read never takes room from read-hot objects.</li>
 * </ul>
 */
public final class ThermoclinePolicy implements CachePolicy {
    /**
     * Sketch width per object the tier holds: wide, because the catalogue read within one aging
     * period is many times the tier's contents and collisions would inflate one-off reads.
     */
    static final int SKETCH_WIDTH_PER_RESIDENT = 16;
    /**
     * Reads between agings per object the tier holds: the sketch remembers about this many
     * tier-fuls of reads. Long enough that the objects of a model loaded every few hundred reads
     * keep a count from one load to the next; the idle discount, not aging, is what lets a burst's
     * counts go.
     */
    static final int SKETCH_SAMPLE_PER_RESIDENT = 40;
    private final PolicyConfig config;
    private Trace trace;
    private long capacity;
    private long used;
    private long moved;
    private long now;
    private long residentsEst;
    private FrequencySketch sketch;
    private HeatTracker heat;
    private long[] hashes;
    private boolean[] resident;
    private long[] lastRead;
    private final List<Integer> residents = new ArrayList<>();
    private final HashMap<Integer, Integer> slot = new HashMap<>();

    public ThermoclinePolicy() {
        this(PolicyConfig.builder().build());
    }

    /** Uses the configuration's heat half-life. */
    public ThermoclinePolicy(PolicyConfig config) {
        this.config = config;
    }

    @Override
    public String name() {
        return "thermocline";
    }

    @Override
    public void start(Trace trace, long capacityBytes) {
        this.trace = trace;
        this.capacity = capacityBytes;
        this.used = 0;
        this.moved = 0;
        residents.clear();
        slot.clear();
        int n = trace.keys().size();
        long mean = Math.max(1, trace.totalBytes() / Math.max(1, n));
        residentsEst = Math.max(8, capacityBytes / mean);
        this.sketch = new FrequencySketch((int) Math.min(config.sketchKeys(), SKETCH_WIDTH_PER_RESIDENT * residentsEst),
                (int) Math.min(Integer.MAX_VALUE / 2, SKETCH_SAMPLE_PER_RESIDENT * residentsEst));
        InstantSource clock = new InstantSource() {
            @Override
            public Instant instant() {
                return Instant.ofEpochMilli(now);
            }

            @Override
            public long millis() {
                return now;
            }
        };
        this.heat = new HeatTracker(clock, config.halfLife());
        this.hashes = new long[n];
        for (int id = 0; id < n; id++) {
            hashes[id] = FrequencySketch.hash(trace.keys().get(id));
        }
        this.resident = new boolean[n];
        this.lastRead = new long[n];
        Arrays.fill(lastRead, -1);
    }

    @Override
    public boolean access(int i) {
        now = trace.timestampMillis()[i];
        int id = trace.keyIds()[i];
        long size = trace.sizes()[id];
        String key = trace.keys().get(id);
        if (trace.writes()[i]) {
            if (resident[id]) {
                moved += size; // rewritten in place
            } else if (sketch.frequency(hashes[id]) > 0 && capacity - used >= size) {
                place(id, size);
            }
            return false;
        }
        sketch.increment(hashes[id]);
        heat.recordRead(key, trace.lengths()[i]);
        long previous = lastRead[id];
        lastRead[id] = i;
        if (resident[id]) {
            return true;
        }
        if (size > capacity) {
            return false;
        }
        if (capacity - used >= size) {
            place(id, size);
            return false;
        }
        int candidateFreq = sketch.frequency(hashes[id]);
        // read again within about one tier-ful of reads: short-term reuse, admitted outright
        boolean reused = previous >= 0 && i - previous <= residentsEst;
        List<Victim> order = new ArrayList<>(residents.size());
        // idle is counted in accesses; the window follows the tier's real object count once it is full
        double window = (double) Admission.IDLE_WINDOW_PER_RESIDENT * Math.max(residentsEst, residents.size());
        for (int v : residents) {
            long vs = trace.sizes()[v];
            double value = Admission.residentValue(sketch.frequency(hashes[v]), i - lastRead[v], window);
            order.add(new Victim(v, value, heat.heat(trace.keys().get(v)).bytes() / vs, lastRead[v], vs));
        }
        order.sort(Victim.ORDER);
        long free = capacity - used;
        double victimValue = 0;
        int k = 0;
        while (free < size && k < order.size()) {
            Victim v = order.get(k++);
            free += v.size;
            victimValue += v.value * v.size;
            // the victims' value only grows as more are taken: reject as soon as it is too high
            if (!reused && !Admission.admits(candidateFreq, size, victimValue)) {
                return false;
            }
        }
        for (int j = 0; j < k; j++) {
            evict(order.get(j).id);
        }
        place(id, size);
        return false;
    }

    private record Victim(int id, double value, double density, long lastRead, long size) {
        static final java.util.Comparator<Victim> ORDER = java.util.Comparator.comparingDouble(Victim::value)
                .thenComparingDouble(Victim::density).thenComparingLong(Victim::lastRead).thenComparingInt(Victim::id);
    }

    private void place(int id, long size) {
        resident[id] = true;
        slot.put(id, residents.size());
        residents.add(id);
        used += size;
        moved += size;
    }

    private void evict(int id) {
        int at = slot.remove(id);
        int last = residents.removeLast();
        if (last != id) {
            residents.set(at, last);
            slot.put(last, at);
        }
        resident[id] = false;
        used -= trace.sizes()[id];
    }

    @Override
    public long bytesMoved() {
        return moved;
    }

    @Override
    public long residentBytes() {
        return used;
    }
}
