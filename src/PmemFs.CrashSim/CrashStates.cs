namespace PmemFs.CrashSim;

/// <summary>How many crash states to build at each point of a recording.</summary>
/// <param name="MaxSubset">Points with at most 2^MaxSubset states get all of them.</param>
/// <param name="SamplesPerPoint">States drawn at a point with more.</param>
/// <param name="Budget">States per recording at most: each point keeps a proportional share (at least one), and points are thinned evenly when there are more than this.</param>
public sealed record StateRules(int MaxSubset, int SamplesPerPoint, long Budget, int Seed);

/// <summary>One crash state, built in the workspace when the visitor sees it.</summary>
/// <param name="Lines">The lines in doubt at the point.</param>
/// <param name="Choice">The version each of them holds (0: the durable content).</param>
public sealed record CrashState(CrashPoint Point, long State, bool Enumerated, List<PendingLine> Lines, int[] Choice);

/// <summary>What a walk covered.</summary>
public sealed record WalkCounts(long States, int PointsChecked, long EnumeratedPoints, long SampledPoints, int MaxPending);

/// <summary>
/// The one place that decides which crash states of a recording are built, for a workload's
/// crash (<see cref="CrashExplorer"/>) and for a crash of a recovery (<see cref="SecondCrash"/>)
/// alike, so both follow the same enumeration, sampling and budget rules (docs/crash-testing.md).
/// </summary>
public static class CrashStates
{
    /// <summary>
    /// Builds each chosen state in <paramref name="space"/> (which must hold <paramref name="initial"/>,
    /// or zeros when it is null) and calls <paramref name="visit"/>; a false return stops the walk.
    /// </summary>
    /// <exception cref="CrashStateOutOfRangeException"><paramref name="onlyState"/> names no state of <paramref name="onlyPoint"/>.</exception>
    public static WalkCounts Walk(Recording recording, List<CrashPoint> points, byte[]? initial, CrashWorkspace space, StateRules rules,
        Func<CrashState, bool> visit, int? onlyPoint = null, long? onlyState = null, string what = "recording")
    {
        ArgumentNullException.ThrowIfNull(recording);
        ArgumentNullException.ThrowIfNull(points);
        ArgumentNullException.ThrowIfNull(space);
        ArgumentNullException.ThrowIfNull(rules);
        ArgumentNullException.ThrowIfNull(visit);

        // Pass 1 (simulation only): how many lines are in doubt at each point, to plan the budget.
        var counts = new long[points.Count];
        var pending = new int[points.Count];
        {
            var sim = new PmemSimulator(recording, initial);
            for (int i = 0; i < points.Count; i++)
            {
                if (onlyPoint is { } only && only != i) continue;
                sim.AdvanceTo(points[i].Position);
                var lines = sim.PendingLines();
                pending[i] = lines.Count;
                counts[i] = EnumeratedStates(lines, rules.MaxSubset) ?? rules.SamplesPerPoint;
            }
        }
        long total = counts.Sum();
        double ratio = total <= rules.Budget ? 1 : (double)rules.Budget / total;
        int pointStride = 1;
        if (onlyPoint is null && points.Count > rules.Budget) pointStride = (int)Math.Ceiling((double)points.Count / rules.Budget);

        long states = 0, enumerated = 0, sampled = 0;
        int checkedPoints = 0;
        var simulator = new PmemSimulator(recording, initial) { DurableLineChanged = space.DurableChanged };
        for (int i = 0; i < points.Count; i++)
        {
            if (onlyPoint is { } only ? only != i : i % pointStride != 0) continue;
            var point = points[i];
            simulator.AdvanceTo(point.Position);
            var lines = simulator.PendingLines();
            bool enumerate = EnumeratedStates(lines, rules.MaxSubset) is not null;
            if (enumerate) enumerated++; else sampled++;
            checkedPoints++;
            long count = counts[i];
            if (onlyState is { } st && (st < 0 || (enumerate && st >= count)))
                throw new CrashStateOutOfRangeException($"{what} crash point {i} has states 0..{(enumerate ? count - 1 : long.MaxValue)}, not {st}");
            long take = onlyState is not null ? 1 : Math.Max(1, (long)Math.Round(count * ratio));
            for (long t = 0; t < take; t++)
            {
                long state = onlyState ?? (take == count ? t : t * (count - 1) / Math.Max(1, take - 1));
                var choice = Choose(lines, enumerate, state, rules.Seed, i);
                space.Build(simulator.Durable, lines, choice);
                states++;
                if (!visit(new CrashState(point, state, enumerate, lines, choice)))
                    return new WalkCounts(states, checkedPoints, enumerated, sampled, pending.Length == 0 ? 0 : pending.Max());
            }
        }
        return new WalkCounts(states, checkedPoints, enumerated, sampled, pending.Length == 0 ? 0 : pending.Max());
    }

    /// <summary>Product of (1 + versions) over the lines, or null beyond 2^<paramref name="maxSubset"/> (the point is sampled).</summary>
    public static long? EnumeratedStates(List<PendingLine> lines, int maxSubset)
    {
        ArgumentNullException.ThrowIfNull(lines);
        long cap = 1L << Math.Min(maxSubset, 40);
        long n = 1;
        foreach (var l in lines)
        {
            n *= 1 + l.Versions.Length;
            if (n > cap) return null;
        }
        return n;
    }

    /// <summary>
    /// Version chosen for each line (0 = durable content, v = Versions[v - 1]). Enumerated points
    /// decode <paramref name="state"/> in mixed radix; sampled ones use state 0 = nothing reached,
    /// 1 = every latest version reached, others seeded random choices.
    /// </summary>
    public static int[] Choose(List<PendingLine> lines, bool enumerate, long state, int seed, int point)
    {
        ArgumentNullException.ThrowIfNull(lines);
        var c = new int[lines.Count];
        if (enumerate)
        {
            for (int i = 0; i < c.Length; i++)
            {
                int radix = 1 + lines[i].Versions.Length;
                c[i] = (int)(state % radix);
                state /= radix;
            }
            return c;
        }
        if (state == 0) return c;
        if (state == 1)
        {
            for (int i = 0; i < c.Length; i++) c[i] = lines[i].Versions.Length;
            return c;
        }
        // Not HashCode.Combine: it is salted per process, and a reproducer runs in a new one.
        long key = ((long)seed * 1_000_003 + point) * 1_000_003 + state;
        var rng = new Random((int)(key ^ (key >>> 32)));
        // Vary the density: some states lose almost everything, others almost nothing.
        double keep = rng.NextDouble();
        for (int i = 0; i < c.Length; i++)
            c[i] = rng.NextDouble() < keep ? 1 + rng.Next(lines[i].Versions.Length) : 0;
        return c;
    }

    /// <summary>The lines in doubt and what the state chose for each, for failure messages.</summary>
    public static string Describe(List<PendingLine> lines, int[] choice)
    {
        ArgumentNullException.ThrowIfNull(lines);
        ArgumentNullException.ThrowIfNull(choice);
        int reached = choice.Count(v => v != 0);
        var sb = new System.Text.StringBuilder($"{lines.Count} lines in doubt, {reached} reached the media");
        for (int i = 0; i < lines.Count && i < 16; i++)
            sb.Append($"; line 0x{lines[i].Line * PmemSimulator.LineSize:x}: {(choice[i] == 0 ? "lost" : $"v{choice[i]}/{lines[i].Versions.Length}")}");
        if (lines.Count > 16) sb.Append("; ...");
        return sb.ToString();
    }
}
