using PmemFs.Check;
using PmemFs.Engine.Health;
using PmemFs.Engine.Log;
using PmemFs.Format;
using PmemFs.Media;
using static PmemFs.Engine.Tests.EngineFixture;

namespace PmemFs.Engine.Tests;

/// <summary>
/// Forced shutdown (issue 13, item 7): a failure once a commit has begun reaching the media
/// stops every later change (EIO) and every later store, the clean-unmount checkpoint included;
/// reads go on; the next mount replays the journal and fsck is clean. A transaction the log
/// would not replay is refused before anything of it is stored.
/// </summary>
public class ShutdownTests
{
    private static (MemoryMedia Raw, FaultInjectingMedia Media, FileSystem Fs, ulong Ino) Mounted()
    {
        var raw = new MemoryMedia(16L << 20);
        Mkfs.Format(raw, new MkfsOptions());
        var media = new FaultInjectingMedia(raw, ownsInner: false);
        var fs = FileSystem.Mount(media);
        Assert.Equal(Errno.Ok, fs.Create(Root, N("f"), RegularMode, Credentials.Root, out var a));
        Assert.Equal(Errno.Ok, fs.Write(a.Ino, 0, Pattern(10_000, 1), Credentials.Root, out _));
        return (raw, media, fs, a.Ino);
    }

    private static Errno Chmod(FileSystem fs, ulong ino, uint mode) =>
        fs.SetAttr(ino, new SetAttrRequest { Fields = SetAttrFields.Mode, Mode = mode }, Credentials.Root, out _);

    [Theory]
    [InlineData(3)] // applying the committed record in place
    [InlineData(2)] // storing the commit word
    [InlineData(1)] // storing the transaction's body
    public void AFailedCommitShutsDownAndNothingIsWrittenAfterwards(int failingStore)
    {
        var (raw, media, fs, ino) = Mounted();
        using (raw)
        {
            // A chmod is one inode record: body, commit word, then the record applied in place.
            media.FailWriteAfter(failingStore);
            Assert.Equal(Errno.EIO, Chmod(fs, ino, 0x81C0));
            Assert.Equal(HealthState.ShutDown, fs.Health.State);
            Assert.Contains("commit failed", fs.Health.Reason);
            Assert.Single(fs.Health.Events, e => e.Kind == HealthEventKind.ShutDown);

            long stores = media.WriteCount, flushes = media.FlushCount;
            Assert.Equal(Errno.EIO, Chmod(fs, ino, 0x81FF));
            Assert.Equal(Errno.EIO, fs.Write(ino, 0, new byte[10], Credentials.Root, out _));
            Assert.Equal(Errno.EIO, fs.Create(Root, N("g"), RegularMode, Credentials.Root, out _));
            Assert.Equal(Errno.EIO, fs.Unlink(Root, N("f")));
            var buf = new byte[10_000];
            Assert.Equal(Errno.Ok, fs.Read(ino, 0, buf, out int n)); // reads go on
            Assert.Equal(Pattern(10_000, 1), buf[..n]);
            fs.ShutDown("again"); // said once
            Assert.Single(fs.Health.Events, e => e.Kind == HealthEventKind.ShutDown);
            fs.Dispose(); // no checkpoint
            Assert.Equal(stores, media.WriteCount);
            Assert.Equal(flushes, media.FlushCount);

            // The next mount replays what was committed; fsck is clean; the file is whole.
            using var again = FileSystem.Mount(raw);
            Assert.Equal(HealthState.Healthy, again.Health.State);
            Assert.True(again.Report.TransactionsReplayed >= (failingStore == 3 ? 1 : 0));
            Assert.Equal(Errno.Ok, again.GetAttr(ino, out var attr));
            if (failingStore == 3) Assert.Equal(0x81C0u, attr.Mode); // committed: replay applied it
            Assert.Equal(Errno.Ok, again.Read(ino, 0, buf, out n));
            Assert.Equal(Pattern(10_000, 1), buf[..n]);
            again.Dispose();
            var check = Fsck.Check(raw, new FsckOptions());
            Assert.True(check.IsClean, string.Join("; ", check.Problems));
        }
    }

    [Fact]
    public void AnAdministratorsShutdownStopsChangesAndTheNextMountRecovers()
    {
        var (raw, media, fs, ino) = Mounted();
        using (raw)
        {
            Assert.Equal(Errno.Ok, Chmod(fs, ino, 0x8180));
            fs.ShutDown("administrator");
            long stores = media.WriteCount;
            Assert.Equal(Errno.EIO, Chmod(fs, ino, 0x81FF));
            fs.Dispose();
            Assert.Equal(stores, media.WriteCount);
            using var again = FileSystem.Mount(raw);
            Assert.Equal(Errno.Ok, again.GetAttr(ino, out var attr));
            Assert.Equal(0x8180u, attr.Mode);
        }
    }

    [Fact]
    public void ATransactionReplayWouldRefuseIsRefusedBeforeAnythingIsStored()
    {
        var (raw, media, fs, ino) = Mounted();
        using (raw)
        using (fs)
        {
            var g = fs.Geometry;
            long free = fs.StatFs().FreeBlocks;
            long stores = media.WriteCount;
            foreach (var bad in new Action<LogTransaction>[]
            {
                t => t.Write(0, new byte[64]),                               // the superblock
                t => t.Write(Geometry.BlockOffset(g.JournalStart), new byte[64]), // the journal
                t => t.Write(Geometry.BlockOffset(g.DataStart), new byte[64]),    // file data
                t => t.SetBits(g.BlockCount, 1),                              // past the region
            })
            {
                using var tx = Txn.Begin(fs);
                tx.AllocateBlocks(2, -1, 1);
                bad(tx.Log);
                Assert.Throws<LogRefusedException>(tx.Commit);
            }
            Assert.Equal(stores, media.WriteCount);
            Assert.Equal(free, fs.StatFs().FreeBlocks); // what they allocated was given back
            Assert.Equal(HealthState.Healthy, fs.Health.State);
            Assert.Equal(Errno.Ok, Chmod(fs, ino, 0x8180)); // and the log goes on
        }
    }
}
