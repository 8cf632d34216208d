using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;

namespace PmemFs.Fuzz.Tests;

/// <summary>Figures of one fuzzing run.</summary>
public sealed record FuzzSummary(int Images, int Skipped, TimeSpan Elapsed, IReadOnlyList<string> Failures, string Table);

/// <summary>
/// Drives the fuzzer: image i of a run is fully determined by (run seed, i): its base, its
/// corruption kind (round robin over kinds, then bases) and the seed of the corruption.
/// </summary>
public static class FuzzRunner
{
    public const int DefaultSeed = 20261130;

    public static CorruptionKind[] Kinds { get; } = Enum.GetValues<CorruptionKind>();

    /// <summary>Base, kind and corruption seed of image <paramref name="index"/> of a run.</summary>
    public static (BaseImage Base, CorruptionKind Kind, int Seed) Plan(int runSeed, int index)
    {
        var kind = Kinds[index % Kinds.Length];
        // The reference-count corruptions need shared extents; the other kinds run on those bases
        // too once the engine mounts them.
        var bases = kind is CorruptionKind.Refcount or CorruptionKind.SharedOwner ? BaseImages.Shared
            : Oracle.EngineMountsSharedImages ? [.. BaseImages.All, .. BaseImages.Shared] : BaseImages.All;
        var b = bases[index / Kinds.Length % bases.Count];
        // A fixed mix (HashCode is randomized per process, so it would not reproduce).
        int seed = (int)(Mix((ulong)(uint)runSeed << 32 | (uint)index) & int.MaxValue);
        return (b, kind, seed);
    }

    private static ulong Mix(ulong x)
    {
        x ^= x >> 33; x *= 0xff51afd7ed558ccdUL; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53UL; x ^= x >> 33;
        return x;
    }

    [ThreadStatic] private static byte[]? _scratch;

    public static Mutation Make(int runSeed, int index)
    {
        var (b, kind, seed) = Plan(runSeed, index);
        _scratch ??= new byte[BaseImages.Size];
        return Corruptor.Make(b, kind, seed, _scratch);
    }

    public static string Reproducer(int runSeed, int index) =>
        $"PMEMFS_FUZZ_SEED={runSeed} PMEMFS_FUZZ_ONLY={index} dotnet test tests/PmemFs.Fuzz.Tests -c Release --filter BoundedRun";

    /// <summary>Runs images [first, first + count) in parallel; stops collecting after <paramref name="maxFailures"/>.</summary>
    public static FuzzSummary Run(int runSeed, int first, int count, int maxFailures = 20, Action<string>? log = null)
    {
        _ = BaseImages.All; // build the bases before the clock starts ticking for images
        var failures = new ConcurrentBag<(int Index, string Text)>();
        var stats = new ConcurrentDictionary<(CorruptionKind, Outcome), int>();
        int skipped = 0;
        var sw = Stopwatch.StartNew();
        Parallel.For(first, first + count, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, (i, state) =>
        {
            if (failures.Count >= maxFailures) { state.Stop(); return; }
            Mutation? m = null;
            try
            {
                m = Oracle.Timed("corrupt", () => Make(runSeed, i));
                var outcome = Oracle.Check(m);
                if (outcome == Outcome.Skipped) Interlocked.Increment(ref skipped);
                stats.AddOrUpdate((m.Kind, outcome), 1, (_, v) => v + 1);
            }
            catch (Exception e)
            {
                string what = m?.ToString() ?? $"image {i} (building the corruption failed)";
                string text = $"image {i}: {(e is FuzzFailureException ? e.Message : e.ToString())}\n  corruption: {what}\n  reproduce: {Reproducer(runSeed, i)}";
                failures.Add((i, text));
                log?.Invoke(text);
            }
        });
        var table = new StringBuilder();
        table.AppendLine($"{"kind",-22} {"fsck refused",12} {"mount refused",13} {"mounted+walked",14} {"repaired only",13} {"no-op",6}");
        foreach (var k in Kinds)
            table.AppendLine($"{k,-22} {stats.GetValueOrDefault((k, Outcome.FsckRefused)),12} {stats.GetValueOrDefault((k, Outcome.MountRefused)),13} {stats.GetValueOrDefault((k, Outcome.MountedAndWalked)),14} {stats.GetValueOrDefault((k, Outcome.RepairedOnly)),13} {stats.GetValueOrDefault((k, Outcome.Skipped)),6}");
        if (!Oracle.EngineMountsSharedImages)
            table.AppendLine("(this build's engine does not mount images with shared extents yet: those were checked by fsck and repair only)");
        return new FuzzSummary(count - skipped, skipped, sw.Elapsed, failures.OrderBy(f => f.Index).Select(f => f.Text).ToList(), table.ToString());
    }
}
