using PmemFs.Format;
using PmemFs.Media;
using static PmemFs.Engine.Tests.EngineFixture;

namespace PmemFs.Engine.Tests;

public class MetadataLogTests
{
    /// <summary>A transaction of exactly 4 KiB that changes nothing (zeroes an always-empty rmap slot).</summary>
    private static LogTransaction FourKiBNoop(Geometry g)
    {
        var tx = new LogTransaction();
        while (tx.EncodedLength < 4096) tx.Zero(g.RmapOffset(g.RmapCount - 1), DiskRmap.Size);
        Assert.Equal(4096, tx.EncodedLength);
        return tx;
    }

    /// <summary>A no-op transaction sized to end exactly at <paramref name="end"/> when it fits, else 4 KiB.</summary>
    private static LogTransaction SmallNoop(Geometry g, long head, long end)
    {
        long room = end - head;
        var tx = new LogTransaction();
        long target = room is >= 128 and <= 4096 ? room : 4096;
        while (tx.EncodedLength < target) tx.Zero(g.RmapOffset(g.RmapCount - 1), DiskRmap.Size);
        return tx;
    }

    [Fact]
    public void TransactionEndingExactlyAtTheEndOfTheLogWrapsAndCheckpointsCleanly()
    {
        using var t = new EngineFixture();
        var g = t.Fs.Geometry;
        Assert.Equal(0, g.LogBytes % 4096);
        int perRing = (int)(g.LogBytes / 4096);
        // Three full laps, each ending exactly at the end of the log, with real work in between.
        for (int lap = 0; lap < 3; lap++)
        {
            for (int i = 0; i < perRing; i++) t.Fs.Log.Commit(FourKiBNoop(g));
            t.CreateFile(Root, $"after-lap-{lap}");
        }
        // Finish with head exactly at the end of the log, then unmount: the checkpoint must name a valid tail.
        for (int i = 0; i < 3 * perRing && t.Fs.Log.HeadOffset != 0; i++) t.Fs.Log.Commit(SmallNoop(g, t.Fs.Log.HeadOffset, g.LogBytes));
        Assert.Equal(0, t.Fs.Log.HeadOffset); // the last transaction ended exactly at the end of the log
        using (var copy = MemoryMedia.CopyOf(t.Media))
        using (var crashed = FileSystem.Mount(copy))
            Assert.Equal(3, crashed.List(Root).Count);
        t.Fs.Dispose();
        using (var ro = FileSystem.Mount(t.Media, new FileSystemOptions { ReadOnly = true }))
            Assert.Equal(Errno.Ok, ro.Lookup(Root, N("after-lap-2"), out _));
        t.Remount();
        Assert.Equal(3, t.List(Root).Count);
    }

    [Fact]
    public void EveryCrashPointAcrossLogWrapsRecoversToACommittedState()
    {
        using var t = new EngineFixture(size: 32L << 20);
        ulong f = t.CreateFile(Root, "f");
        int perRing = (int)(t.Fs.Geometry.LogBytes / 700);
        for (int i = 0; i < perRing * 3; i++)
        {
            t.Write(f, 0, BitConverter.GetBytes(i));
            if (i % 97 != 0) continue;
            using var copy = MemoryMedia.CopyOf(t.Media);
            using var crashed = FileSystem.Mount(copy);
            var buf = new byte[4];
            Assert.Equal(Errno.Ok, crashed.Read(f, 0, buf, out _));
            Assert.Equal(i, BitConverter.ToInt32(buf));
        }
    }
}

internal static class FileSystemTestExtensions
{
    public static List<string> List(this FileSystem fs, ulong dir)
    {
        var names = new List<string>();
        fs.ReadDirectory(dir, 0, item => { names.Add(System.Text.Encoding.UTF8.GetString(item.Name)); return true; });
        return names.Where(n => n is not "." and not "..").ToList();
    }
}

public class TransactionRulesTests
{
    [Fact]
    public void SecondExtentEditOfOneMapInOneTransactionIsRefused()
    {
        using var t = new EngineFixture();
        ulong f = t.CreateFile(EngineFixture.Root, "f");
        var inode = t.Fs.InodeAt(f)!;
        using var tx = Txn.Begin(t.Fs);
        Inodes.ExtentEdit.Apply(t.Fs, tx, inode, 0, 1, []);
        Assert.Throws<InvalidOperationException>(() => Inodes.ExtentEdit.Apply(t.Fs, tx, inode, 1, 2, []));
    }
}
