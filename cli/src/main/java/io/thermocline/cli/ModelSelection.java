package io.thermocline.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;
import picocli.CommandLine;
import picocli.CommandLine.Option;

/**
 * Which objects of a model prefix or directory {@code prestage} stages.
 *
 * <p>By default, all of them: the index and its shards, {@code config.json}, the tokenizer files
 * and every other file, since a model server needs them all. {@code --index-only} narrows that to
 * the index and the shards its {@code weight_map} names. Then the {@code --include} and
 * {@code --exclude} filters are applied as the AWS CLI applies them ({@code aws s3 sync}): each
 * is a glob matched against the object's path relative to the model prefix (or directory), every
 * object starts out selected, and the filters are taken in the order given, the last one that
 * matches deciding. So {@code --exclude "*" --include "*.json"} selects only the JSON files, and
 * {@code --include "*.json" --exclude "*"} selects nothing.
 *
 * <p>Globs: {@code *} matches any run of characters, {@code /} included; {@code ?} one character;
 * {@code [abc]}, {@code [a-z]} one of a set, {@code [!abc]} one not in it. Every other character
 * matches itself.
 */
final class ModelSelection {

    /** One filter: include or exclude the paths its glob matches. */
    record Filter(boolean include, String glob, Pattern pattern) {

        @Override
        public String toString() {
            return (include ? "--include " : "--exclude ") + glob;
        }
    }

    private final boolean indexOnly;
    private final List<Filter> filters;

    ModelSelection(boolean indexOnly, List<Filter> filters) {
        this.indexOnly = indexOnly;
        this.filters = List.copyOf(filters);
    }

    static ModelSelection everything() {
        return new ModelSelection(false, List.of());
    }

    /** Only the index and the shards it names (when there is an index). */
    boolean indexOnly() {
        return indexOnly;
    }

    List<Filter> filters() {
        return filters;
    }

    /** Whether the filters keep the object at {@code relativePath} (relative to the model prefix or directory). */
    boolean accepts(String relativePath) {
        boolean in = true;
        for (Filter f : filters) {
            if (f.pattern().matcher(relativePath).matches()) {
                in = f.include();
            }
        }
        return in;
    }

    /**
     * A filter from the glob given to {@code option}.
     *
     * @throws IllegalArgumentException naming the option and the glob when it is not one
     */
    static Filter filter(String option, boolean include, String glob) {
        return new Filter(include, glob, compile(option, glob));
    }

    /** The regular expression of an AWS-CLI-style glob (see the class comment). */
    static Pattern compile(String option, String glob) {
        if (glob.isEmpty()) {
            throw new IllegalArgumentException(option + ": '' (expected: a glob such as '*.json' or 'original/*')");
        }
        StringBuilder re = new StringBuilder();
        for (int i = 0; i < glob.length(); i++) {
            char c = glob.charAt(i);
            switch (c) {
                case '*' -> re.append(".*");
                case '?' -> re.append('.');
                case '[' -> {
                    int close = glob.indexOf(']', i + 2);
                    if (close < 0) {
                        throw new IllegalArgumentException(option + ": '" + glob + "' has a '[' at " + i
                                + " without its ']' (expected: a set such as [0-9] or [!._])");
                    }
                    String set = glob.substring(i + 1, close);
                    boolean negated = set.startsWith("!");
                    if (negated) {
                        set = set.substring(1);
                    }
                    re.append('[').append(negated ? "^" : "");
                    for (char s : set.toCharArray()) {
                        // a range's '-' and letters and digits as they are; anything else escaped, so it is literal in the set
                        re.append(s == '-' || Character.isLetterOrDigit(s) ? String.valueOf(s) : "\\" + s);
                    }
                    re.append(']');
                    i = close;
                }
                default -> re.append(Pattern.quote(String.valueOf(c)));
            }
        }
        try {
            return Pattern.compile(re.toString(), Pattern.DOTALL);
        } catch (PatternSyntaxException e) {
            throw new IllegalArgumentException(option + ": '" + glob + "' is not a valid glob (" + e.getDescription() + ")");
        }
    }

    /**
     * The command-line options of a selection: {@code --index-only}, {@code --all}, {@code --include},
     * {@code --exclude}; a mixin, whose footer (the rules) picocli adds to the command's help.
     */
    @CommandLine.Command(footer = {
        "",
        "Selection:",
        "  By default every object under the prefix (or every file of the directory) is staged: the index and its",
        "  shards, config.json, the tokenizer files and the rest, as a model server needs them. --index-only stages",
        "  only the index and the shards its weight_map names.",
        "  --include and --exclude filter that, as in 'aws s3 sync': each GLOB is matched against the path relative",
        "  to the model prefix; every object starts selected; the filters apply in the order given and the last one",
        "  that matches an object decides. '*' matches any characters including '/', '?' one character, [abc] [a-z]",
        "  one of a set, [!abc] one not in it.",
        "    --exclude '*.bin'                           leave out the PyTorch .bin copies of the weights",
        "    --exclude 'original/*'                      leave out the original/ folder",
        "    --exclude '*' --include '*.json'            only the JSON files",
        })
    static final class Options {

        @CommandLine.Spec(CommandLine.Spec.Target.MIXEE)
        CommandLine.Model.CommandSpec spec;

        @Option(names = "--index-only", description = "Stage only the model.safetensors.index.json and the shards its "
                + "weight_map names (by default every object of the prefix or directory is staged).")
        boolean indexOnly;

        @Option(names = "--all", description = "Stage every object of the prefix or directory (the default; kept for scripts "
                + "that name it).")
        boolean all;

        @Option(names = "--include", paramLabel = "GLOB", description = "Select the objects whose path relative to the "
                + "model prefix matches GLOB again (after an --exclude). Repeatable; see Selection below.")
        List<String> includes = new ArrayList<>();

        @Option(names = "--exclude", paramLabel = "GLOB", description = "Leave out the objects whose path relative to the "
                + "model prefix matches GLOB. Repeatable; see Selection below.")
        List<String> excludes = new ArrayList<>();

        /**
         * The filters in the order they were given: picocli keeps each option's values in order,
         * the command line says how the two interleave.
         */
        private List<Filter> filters() {
            List<Filter> filters = new ArrayList<>();
            var parsed = spec.commandLine().getParseResult();
            List<String> args = parsed == null ? List.of() : parsed.originalArgs();
            int in = 0;
            int ex = 0;
            for (int i = 0; i < args.size(); i++) {
                String a = args.get(i);
                if (a.equals("--")) {
                    break;
                }
                for (String option : List.of("--include", "--exclude")) {
                    boolean include = option.equals("--include");
                    String glob = null;
                    if (a.equals(option) && i + 1 < args.size()) {
                        glob = args.get(++i);
                    } else if (a.startsWith(option + "=")) {
                        glob = a.substring(option.length() + 1);
                    }
                    if (glob != null) {
                        // the same value picocli took for the option, in the same position
                        List<String> values = include ? includes : excludes;
                        int at = include ? in++ : ex++;
                        if (at >= values.size() || !values.get(at).equals(glob)) {
                            throw new CommandLine.ParameterException(spec.commandLine(), option + ": cannot tell the order of "
                                    + "--include and --exclude from the command line (expected: each as its own argument)");
                        }
                        filters.add(parse(option, include, glob));
                        break;
                    }
                }
            }
            if (in != includes.size() || ex != excludes.size()) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--include/--exclude: cannot tell their order "
                        + "from the command line (expected: each as its own argument, such as --exclude '*.bin')");
            }
            return filters;
        }

        private Filter parse(String option, boolean include, String glob) {
            try {
                return filter(option, include, glob);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
            }
        }

        ModelSelection selection() {
            if (indexOnly && all) {
                throw new CommandLine.ParameterException(spec.commandLine(),
                        "--index-only and --all: choose one (--all, every object, is the default)");
            }
            return new ModelSelection(indexOnly, filters());
        }
    }


    /** The filters as given, for messages. */
    String describe() {
        List<String> parts = new ArrayList<>();
        if (indexOnly) {
            parts.add("--index-only");
        }
        filters.forEach(f -> parts.add(f.toString()));
        return parts.isEmpty() ? "every object" : String.join(" ", parts);
    }
}
