using PmemFs.Engine;
using PmemFs.Format;
using PmemFs.Media;
using Xunit.Abstractions;

namespace PmemFs.Check.Tests;

/// <summary>
/// The durability contract seen from fsck: a copy of the media taken before any store of an
/// operation (a killed daemon: every earlier store landed, no later one did) replays to a
/// clean image. Snapshots are spread evenly over the operation's stores.
/// </summary>
public sealed class CrashPointTests(ITestOutputHelper output)
{
    private const int Snapshots = 24;

    /// <summary>Runs <paramref name="operation"/> twice on identical images: once to count its stores, once to snapshot between them.</summary>
    private List<FsckReport> CheckCrashPoints(Action<TestImage> setup, Action<TestImage> operation)
    {
        long stores;
        using (var counting = Build(setup, out var fi))
        {
            long before = fi.WriteCount;
            operation(counting);
            stores = fi.WriteCount - before;
            counting.Unmount();
            fi.Dispose();
        }
        Assert.True(stores > 0);

        long stride = Math.Max(1, stores / Snapshots);
        var reports = new List<FsckReport>();
        using var img = Build(setup, out var media);
        long start = media.WriteCount;
        media.BeforeOperation = op =>
        {
            if (!op.IsStore) return;
            long n = media.WriteCount - start; // stores already done by the operation
            if (n % stride != 0) return;
            using var copy = MemoryMedia.CopyOf(img.Media);
            var report = Fsck.Check(copy, new FsckOptions());
            Assert.True(report.IsClean, $"crash before store {n} of {stores}:\n{ReportAssert.Render(report)}");
            reports.Add(report);
        };
        operation(img);
        media.BeforeOperation = null;
        img.Unmount();
        ReportAssert.Clean(img.Check());
        media.Dispose();
        output.WriteLine($"{reports.Count} crash points over {stores} stores clean; transactions replayed {reports.Min(r => r.Stats.TransactionsReplayed)}..{reports.Max(r => r.Stats.TransactionsReplayed)}");
        return reports;
    }

    /// <summary>A fresh image mounted through a decorator that sees every store.</summary>
    private static TestImage Build(Action<TestImage> setup, out FaultInjectingMedia media)
    {
        var img = TestImage.MountedThrough(m => new FaultInjectingMedia(m, ownsInner: false), out var decorated);
        media = (FaultInjectingMedia)decorated;
        setup(img);
        return img;
    }

    [Fact]
    public void EveryCrashPointOfALongTruncateIsClean()
    {
        // More extents than one transaction frees: the truncate records a trim intent and
        // finishes in batches, so some crash points show a pending trim.
        ulong ino = 0;
        var reports = CheckCrashPoints(
            img =>
            {
                ino = img.File(TestImage.Root, "many-extents");
                var block = TestImage.Pattern(FormatConstants.BlockSize, 1);
                for (int i = 0; i < 1100; i++) img.Write(ino, 2L * i * FormatConstants.BlockSize, block);
            },
            img => img.Do(img.Engine.SetAttr(ino, new SetAttrRequest { Fields = SetAttrFields.Size, Size = 0 }, Credentials.Root, out _)));
        Assert.Contains(reports, r => r.Stats.PendingTrims == 1);
    }

    [Fact]
    public void EveryCrashPointOfAMixOfOperationsIsClean()
    {
        CheckCrashPoints(_ => { }, img => img.Populate());
    }

    [Fact]
    public void EveryCrashPointOfFreeingAnOrphanIsClean()
    {
        ulong ino = 0;
        CheckCrashPoints(
            img =>
            {
                ino = img.File(TestImage.Root, "open");
                img.Write(ino, 0, TestImage.Pattern(300_000, 2));
                img.Do(img.Engine.SetXattr(ino, TestImage.N("user.a"), TestImage.Pattern(6000, 3), XattrSetFlags.None));
                img.Engine.Retain(ino);
                img.Do(img.Engine.Unlink(TestImage.Root, TestImage.N("open")));
            },
            img => img.Engine.Forget(ino));
    }
}
