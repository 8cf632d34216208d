using PmemFs.Engine.Health;
using PmemFs.Format;
using PmemFs.Media;
using static PmemFs.Engine.Tests.EngineFixture;

namespace PmemFs.Engine.Tests;

/// <summary>
/// Salvage (issue 13, item 8; docs/health.md): a read-only mount of an image that a read-write
/// mount would first have to recover (a pending journal, a damaged primary superblock) replays
/// into a private view instead of refusing, and writes nothing to the image.
/// </summary>
public class SalvageTests
{
    private const int Bs = FormatConstants.BlockSize;
    private static readonly FileSystemOptions ReadOnly = new() { ReadOnly = true };

    /// <summary>
    /// An image whose last changes are only in the journal: "before" is checkpointed into the
    /// tables; "after" (a file with data, a directory) was committed, then the tables and bitmap
    /// are put back as the checkpoint left them, as a power loss before the apply would.
    /// </summary>
    private static (MemoryMedia Image, byte[] Data) CrashedWithPendingJournal()
    {
        using var t = new EngineFixture(size: 32L << 20);
        t.Write(t.CreateFile(Root, "before"), 0, Pattern(5000, 1));
        t.Fs.Sync();
        var g = t.Fs.Geometry;
        long from = g.BitmapStart * Bs, to = g.DataStart * Bs;
        var tables = t.Media.Read(from, (int)(to - from)).ToArray();
        var data = Pattern(3 * Bs + 17, 2);
        t.Write(t.CreateFile(Root, "after"), 0, data);
        t.MakeDir(Root, "dir");
        var crashed = MemoryMedia.CopyOf(t.Media);
        tables.CopyTo(crashed.RawBytes(from, tables.Length));
        return (crashed, data);
    }

    private static void AssertUnchanged(byte[] before, MemoryMedia media) =>
        Assert.True(before.AsSpan().SequenceEqual(media.Read(0, (int)media.Size)), "a read-only mount wrote to the image");

    [Fact]
    public void AReadOnlyMountReplaysAPendingJournalIntoAPrivateViewAndWritesNothing()
    {
        var (image, data) = CrashedWithPendingJournal();
        using var owned = image;
        Assert.Equal(JournalState.Pending, JournalReplay.Inspect(image, ImageReader.ReadSuperblock(image, "t").Superblock));
        var before = image.Read(0, (int)image.Size).ToArray();
        using (var ro = FileSystem.Mount(image, ReadOnly))
        {
            Assert.True(ro.Report.TransactionsReplayed > 0);
            Assert.Contains(ro.Health.Events, e => e.Kind == HealthEventKind.Salvaged);
            Assert.Equal(HealthState.Healthy, ro.Health.State);
            Assert.Equal(Errno.Ok, ro.Lookup(Root, N("after"), out var a));
            var buf = new byte[data.Length];
            Assert.Equal(Errno.Ok, ro.Read(a.Ino, 0, buf, out int n));
            Assert.Equal(data, buf[..n]);
            Assert.Equal(Errno.Ok, ro.Lookup(Root, N("dir"), out _));
            Assert.Equal(Errno.Ok, ro.Lookup(Root, N("before"), out _));
            Assert.Equal(Errno.EROFS, ro.Create(Root, N("x"), RegularMode, Credentials.Root, out _));
        }
        AssertUnchanged(before, image);
        // The read-write mount then replays for real and sees the same.
        using var rw = FileSystem.Mount(image);
        Assert.True(rw.Report.TransactionsReplayed > 0);
        Assert.Equal(Errno.Ok, rw.Lookup(Root, N("after"), out _));
    }

    [Fact]
    public void AReadOnlyMountWithADamagedPrimarySuperblockReadsTheCopyAndWritesNothing()
    {
        using var t = new EngineFixture(size: 32L << 20);
        var data = Pattern(2 * Bs + 5, 3);
        t.Write(t.CreateFile(Root, "f"), 0, data);
        t.Fs.Dispose();
        t.Media.RawBytes(8, 4).Fill(0xA5);
        var before = t.Media.Read(0, (int)t.Media.Size).ToArray();
        using (var ro = FileSystem.Mount(t.Media, ReadOnly))
        {
            Assert.Equal(SuperblockCopy.Secondary, ro.Report.SuperblockUsed);
            Assert.Contains(ro.Health.Events, e => e.Kind == HealthEventKind.Salvaged && e.Message.Contains("primary superblock", StringComparison.Ordinal));
            Assert.Equal(Errno.Ok, ro.Lookup(Root, N("f"), out var a));
            var buf = new byte[data.Length];
            Assert.Equal(Errno.Ok, ro.Read(a.Ino, 0, buf, out _));
            Assert.Equal(data, buf);
        }
        AssertUnchanged(before, t.Media);
    }

    [Fact]
    public void ADamagedPrimarySuperblockAndAPendingJournalTogetherAreSalvaged()
    {
        var (image, data) = CrashedWithPendingJournal();
        using var owned = image;
        image.RawBytes(8, 4).Fill(0xA5);
        var before = image.Read(0, (int)image.Size).ToArray();
        using (var ro = FileSystem.Mount(image, ReadOnly))
        {
            Assert.Equal(SuperblockCopy.Secondary, ro.Report.SuperblockUsed);
            Assert.Equal(Errno.Ok, ro.Lookup(Root, N("after"), out var a));
            var buf = new byte[data.Length];
            Assert.Equal(Errno.Ok, ro.Read(a.Ino, 0, buf, out _));
            Assert.Equal(data, buf);
        }
        AssertUnchanged(before, image);
    }

    [Fact]
    public void AnUnreadableJournalRefusesAReadWriteMountButAReadOnlyOneMountsTheTablesAsTheyStand()
    {
        var (image, _) = CrashedWithPendingJournal();
        using var owned = image;
        var g = ImageReader.ReadSuperblock(image, "t").Superblock.Geometry;
        image.RawBytes(g.JournalHeaderOffset, 2 * DiskJournalHeader.Size).Fill(0x5A);
        var before = image.Read(0, (int)image.Size).ToArray();
        Assert.Throws<ImageFormatException>(() => FileSystem.Mount(MemoryMedia.CopyOf(image)));
        using (var ro = FileSystem.Mount(image, ReadOnly))
        {
            Assert.Contains(ro.Health.Events, e => e.Kind == HealthEventKind.Salvaged && e.Message.Contains("journal header", StringComparison.Ordinal));
            Assert.Equal(Errno.Ok, ro.Lookup(Root, N("before"), out var b));
            var buf = new byte[5000];
            Assert.Equal(Errno.Ok, ro.Read(b.Ino, 0, buf, out _));
            Assert.Equal(Pattern(5000, 1), buf);
            Assert.Equal(Errno.ENOENT, ro.Lookup(Root, N("after"), out _)); // only the journal knew it
        }
        AssertUnchanged(before, image);
    }

    [Fact]
    public void AReadOnlyMountOfAnImageWithCommittedTransactionsReplaysPrivately()
    {
        using var media = new MemoryMedia(16L << 20);
        Mkfs.Format(media, new MkfsOptions());
        var fs = FileSystem.Mount(media);
        Assert.Equal(Errno.Ok, fs.Create(Root, N("kept"), RegularMode, Credentials.Root, out var a));
        Assert.Equal(Errno.Ok, fs.Write(a.Ino, 0, Pattern(5000, 3), Credentials.Root, out _));
        // Crash: the process dies with the transactions committed in the journal (no checkpoint).
        var crashed = MemoryMedia.CopyOf(media);
        fs.Dispose();
        using (crashed)
        {
            Assert.Equal(JournalState.Pending, JournalReplay.Inspect(crashed, ImageReader.ReadSuperblock(crashed, "x").Superblock));
            var before = crashed.Read(0, (int)crashed.Size).ToArray();
            using (var ro = FileSystem.Mount(crashed, new FileSystemOptions { ReadOnly = true }))
            {
                Assert.Contains(ro.Health.Events, e => e.Kind == HealthEventKind.Salvaged);
                Assert.Equal(Errno.Ok, ro.Lookup(Root, N("kept"), out var got));
                var buf = new byte[5000];
                Assert.Equal(Errno.Ok, ro.Read(got.Ino, 0, buf, out _));
                Assert.Equal(Pattern(5000, 3), buf);
                Assert.Equal(Errno.EROFS, ro.Create(Root, N("no"), RegularMode, Credentials.Root, out _));
            }
            Assert.True(before.AsSpan().SequenceEqual(crashed.Read(0, (int)crashed.Size))); // nothing written
        }
    }

    [Fact]
    public void AReadOnlyMountOfAnImageWithADamagedPrimarySuperblockUsesTheCopy()
    {
        using var media = new MemoryMedia(16L << 20);
        Mkfs.Format(media, new MkfsOptions());
        using (var fs = FileSystem.Mount(media)) Assert.Equal(Errno.Ok, fs.Create(Root, N("kept"), RegularMode, Credentials.Root, out _));
        media.RawBytes(64, 8).Fill(0xEE);
        var before = media.Read(0, (int)media.Size).ToArray();
        using (var ro = FileSystem.Mount(media, new FileSystemOptions { ReadOnly = true }))
        {
            Assert.Equal(SuperblockCopy.Secondary, ro.Report.SuperblockUsed);
            Assert.Equal(Errno.Ok, ro.Lookup(Root, N("kept"), out _));
        }
        Assert.True(before.AsSpan().SequenceEqual(media.Read(0, (int)media.Size)));
    }
}
