using PmemFs.Media;
using static PmemFs.Format.Tests.TestSupport;

namespace PmemFs.Format.Tests;

public sealed class FreeSpaceBitmapTests : IDisposable
{
    // 4133 blocks: the last bitmap word holds 37 blocks and 27 bits past the end.
    private const long Size = 16 * MiB + 37 * 4096;
    private readonly Geometry _g = Geometry.Compute(Size);
    private readonly MemoryMedia _media = new(Size);

    public void Dispose() => _media.Dispose();

    private List<(long Start, long Count)> Runs(bool set)
    {
        var runs = new List<(long, long)>();
        FreeSpaceBitmap.ForEachRun(_media, _g, set, (s, c) => runs.Add((s, c)));
        return runs;
    }

    private static List<(long Start, long Count)> ModelRuns(bool[] used, bool set)
    {
        var runs = new List<(long, long)>();
        long start = -1;
        for (long b = 0; b < used.Length; b++)
        {
            if (used[b] == set && start < 0) start = b;
            else if (used[b] != set && start >= 0)
            {
                runs.Add((start, b - start));
                start = -1;
            }
        }
        if (start >= 0) runs.Add((start, used.Length - start));
        return runs;
    }

    private void Set(long first, long count) => FreeSpaceBitmap.ApplyRange(_media, _g, first, count, set: true);

    [Fact]
    public void GeometryOfTheseTestsEndsInAPartialWord()
    {
        Assert.Equal(4133, _g.BlockCount);
        Assert.Equal(37, _g.BlockCount % 64);
    }

    [Fact]
    public void EmptyBitmapIsOneFreeRunAndNoUsedRun()
    {
        Assert.Equal([(0L, 4133L)], Runs(set: false));
        Assert.Empty(Runs(set: true));
    }

    [Fact]
    public void FullBitmapIsOneUsedRunAndNoFreeRun()
    {
        Set(0, _g.BlockCount);
        Assert.Equal([(0L, 4133L)], Runs(set: true));
        Assert.Empty(Runs(set: false));
    }

    [Fact]
    public void CraftedBitmapGivesExactRunsIncludingTheLastPartialWord()
    {
        Set(0, 1);          // a single bit at the very start
        Set(63, 2);         // across the first word boundary
        Set(128, 64);       // exactly one whole word
        Set(256, 200);      // several words, ending mid-word
        Set(4090, 10);      // into the last partial word
        Set(4132, 1);       // the very last block
        // Bits past the end of the region are set (as mkfs does) and must not show up as a run.
        Set(4133, 27);

        Assert.Equal(
            [(0L, 1L), (63L, 2L), (128L, 64L), (256L, 200L), (4090L, 10L), (4132L, 1L)],
            Runs(set: true));
        Assert.Equal(
            [(1L, 62L), (65L, 63L), (192L, 64L), (456L, 3634L), (4100L, 32L)],
            Runs(set: false));
    }

    [Fact]
    public void UsedRunReachingTheLastBlockEndsAtTheBlockCount()
    {
        Set(4100, 33);
        Assert.Equal([(4100L, 33L)], Runs(set: true));
        Assert.Equal([(0L, 4100L)], Runs(set: false));
    }

    [Fact]
    public void FreeRunReachingTheLastBlockEndsAtTheBlockCountWhateverThePastEndBits()
    {
        Set(0, 4000);
        Assert.Equal([(4000L, 133L)], Runs(set: false));
        Set(4133, 27);
        Assert.Equal([(4000L, 133L)], Runs(set: false));
        Assert.Equal([(0L, 4000L)], Runs(set: true));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void RandomBitmapRunsMatchAModel(int seed)
    {
        var rng = new Random(seed);
        var used = new bool[_g.BlockCount];
        for (int i = 0; i < 60; i++)
        {
            long first = rng.NextInt64(_g.BlockCount);
            long count = Math.Min(rng.Next(1, seed * 100), _g.BlockCount - first);
            bool set = rng.Next(3) != 0;
            FreeSpaceBitmap.ApplyRange(_media, _g, first, count, set);
            for (long b = first; b < first + count; b++) used[b] = set;
        }
        if (seed % 2 == 0) Set(_g.BlockCount, 27);

        for (long b = 0; b < _g.BlockCount; b++) Assert.Equal(used[b], FreeSpaceBitmap.IsSet(_media, _g, b));
        Assert.Equal(ModelRuns(used, set: true), Runs(set: true));
        Assert.Equal(ModelRuns(used, set: false), Runs(set: false));
    }

    [Fact]
    public void BitOfABlockIsItsPositionInALittleEndianWord()
    {
        Set(70, 1);
        long word = Geometry.BlockOffset(_g.BitmapStart) + 8;
        Assert.Equal(word, FreeSpaceBitmap.WordOffset(_g, 70));
        Assert.Equal(1ul << 6, _media.ReadUInt64(word));
        Assert.Equal(0x40, _media.Read(word, 1)[0]);
    }
}
