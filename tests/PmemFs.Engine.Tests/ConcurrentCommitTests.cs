using System.Buffers.Binary;
using PmemFs.Check;
using PmemFs.CrashSim;
using PmemFs.Format;
using PmemFs.Media;
using static PmemFs.Engine.Tests.EngineFixture;

namespace PmemFs.Engine.Tests;

/// <summary>
/// The metadata log with committers persisting concurrently: every returned commit survives a
/// crash, no transaction is visible behind one that is not durable, and the ring's tail moves
/// while transactions are in flight.
/// </summary>
public class ConcurrentCommitTests
{
    [Fact]
    public void ThreadsCreatingFilesWhileTheRingWrapsLoseNothingAtReplay()
    {
        // 64 MiB: a 1 MiB log ring; 8 threads x 500 creates of ~1 KiB each lap it about 4 times.
        using var t = new EngineFixture(size: 64L << 20, inodes: 8192);
        const int threads = 8, perThread = 500;
        var dirs = Enumerable.Range(0, threads).Select(i => t.MakeDir(Root, $"d{i}")).ToArray();
        long checkpoints = t.Fs.LogCheckpoints;
        var errors = new List<string>();
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, id =>
        {
            for (int i = 0; i < perThread; i++)
            {
                var e = t.Fs.Create(dirs[id], N($"f{i}"), RegularMode, Credentials.Root, out _);
                if (e != Errno.Ok) lock (errors) errors.Add($"thread {id} file {i}: {e}");
            }
        });
        Assert.Empty(errors);
        Assert.True(t.Fs.LogCheckpoints - checkpoints >= 3, $"the ring should have lapped: {t.Fs.LogCheckpoints - checkpoints} tail moves");

        // Power cut now: no unmount checkpoint, so replay starts at the last tail the ring moved to.
        using var copy = MemoryMedia.CopyOf(t.Media);
        using (var crashed = FileSystem.Mount(copy))
        {
            Assert.True(crashed.Report.TransactionsReplayed > 0, "replay should have had the ring's content to redo");
            for (int id = 0; id < threads; id++)
                Assert.Equal(perThread, crashed.List(dirs[id]).Count);
        }
        AssertFsckClean(copy);
    }

    [Fact]
    public void ALaterCommitWhosePersistFinishesFirstWaitsForTheEarlierOne()
    {
        using var memory = new MemoryMedia(32L << 20);
        Mkfs.Format(memory, new MkfsOptions());
        using var gated = new GatedMedia(memory);
        using var fs = FileSystem.Mount(gated);
        Assert.Equal(Errno.Ok, fs.MakeDirectory(Root, N("a"), DirMode, Credentials.Root, out var a));
        Assert.Equal(Errno.Ok, fs.MakeDirectory(Root, N("b"), DirMode, Credentials.Root, out var b));

        // A reserves its place in the ring, then stalls before its body's flush.
        using var first = gated.HoldFirstLogFlushOfNextThread();
        var earlier = Call.Start(() => fs.Create(a.Ino, N("x"), RegularMode, Credentials.Root, out _));
        Assert.True(first.Held.Wait(TimeSpan.FromSeconds(10)), "the earlier commit never reached its flush");

        // B comes later in sequence, persists its body and commit word, and must then wait for A.
        var persisted = gated.SignalCommitWordDrainOfNextThread();
        var later = Call.Start(() => fs.Create(b.Ino, N("y"), RegularMode, Credentials.Root, out _));
        Assert.True(persisted.Wait(TimeSpan.FromSeconds(10)), "the later commit never persisted its commit word");
        Assert.False(later.Done.Wait(TimeSpan.FromMilliseconds(300)), "the later commit returned while an earlier one was not durable");

        // A crash now: B's commit word is durable behind A's hole, so B must be nowhere, not even applied in place.
        using (var copy = MemoryMedia.CopyOf(memory))
        {
            using (var crashed = FileSystem.Mount(copy))
            {
                Assert.Equal(Errno.ENOENT, crashed.Lookup(b.Ino, N("y"), out _));
                Assert.Equal(Errno.ENOENT, crashed.Lookup(a.Ino, N("x"), out _));
                // The next session commits a transaction of A's length where A was: B, still
                // committed right after it, must not come back at the next replay.
                Assert.Equal(Errno.Ok, crashed.Create(a.Ino, N("x"), RegularMode, Credentials.Root, out _));
                using var again = MemoryMedia.CopyOf(copy);
                using (var recrashed = FileSystem.Mount(again))
                {
                    Assert.Equal(Errno.Ok, recrashed.Lookup(a.Ino, N("x"), out _));
                    Assert.Equal(Errno.ENOENT, recrashed.Lookup(b.Ino, N("y"), out _));
                }
                AssertFsckClean(again);
            }
            AssertFsckClean(copy);
        }

        first.Release();
        Assert.Equal(Errno.Ok, earlier.Result());
        Assert.Equal(Errno.Ok, later.Result());
        using (var copy = MemoryMedia.CopyOf(memory))
        using (var crashed = FileSystem.Mount(copy))
        {
            Assert.Equal(Errno.Ok, crashed.Lookup(a.Ino, N("x"), out _));
            Assert.Equal(Errno.Ok, crashed.Lookup(b.Ino, N("y"), out _));
        }
    }

    [Fact]
    public void AFailedPersistFailsTheLaterCommitsWaitingBehindIt()
    {
        using var memory = new MemoryMedia(32L << 20);
        Mkfs.Format(memory, new MkfsOptions());
        using var gated = new GatedMedia(memory);
        var fs = FileSystem.Mount(gated);
        Assert.Equal(Errno.Ok, fs.MakeDirectory(Root, N("a"), DirMode, Credentials.Root, out var a));
        Assert.Equal(Errno.Ok, fs.MakeDirectory(Root, N("b"), DirMode, Credentials.Root, out var b));

        using var first = gated.HoldFirstLogFlushOfNextThread();
        var earlier = Call.Start(() => fs.Create(a.Ino, N("x"), RegularMode, Credentials.Root, out _));
        Assert.True(first.Held.Wait(TimeSpan.FromSeconds(10)));
        var persisted = gated.SignalCommitWordDrainOfNextThread();
        var later = Call.Start(() => fs.Create(b.Ino, N("y"), RegularMode, Credentials.Root, out _));
        Assert.True(persisted.Wait(TimeSpan.FromSeconds(10)));

        first.Fail(); // A's flush throws: A is a hole that B can never be replayed across
        // Each answers EIO and the file system shuts down (docs/health.md): nothing more is written.
        Assert.Equal(Errno.EIO, earlier.Result());
        Assert.Equal(Errno.EIO, later.Result());
        Assert.Equal(Errno.EIO, fs.Create(Root, N("z"), RegularMode, Credentials.Root, out _));
        Assert.Equal(Health.HealthState.ShutDown, fs.Health.State);
        fs.Dispose(); // no header naming a tail past the hole

        using (var crashed = FileSystem.Mount(memory))
        {
            Assert.Equal(Errno.ENOENT, crashed.Lookup(a.Ino, N("x"), out _));
            Assert.Equal(Errno.ENOENT, crashed.Lookup(b.Ino, N("y"), out _));
            Assert.Equal(Errno.Ok, crashed.Create(Root, N("z"), RegularMode, Credentials.Root, out _));
        }
        AssertFsckClean(memory);
    }

    [Fact]
    public void AFullRingMovesItsTailToTheOldestUnappliedTransactionAndWaitsOnlyForThatOne()
    {
        using var memory = new MemoryMedia(32L << 20);
        Mkfs.Format(memory, new MkfsOptions());
        using var gated = new GatedMedia(memory);
        using var fs = FileSystem.Mount(gated);
        var g = fs.Geometry;
        Assert.Equal(Errno.Ok, fs.MakeDirectory(Root, N("a"), DirMode, Credentials.Root, out var a)); // applied: the tail may pass it

        // A, the oldest in flight, stalls before its flush; three quarter-ring fillers queue behind it.
        long atA = fs.LogHeadOffset;
        using var first = gated.HoldFirstLogFlushOfNextThread();
        var earlier = Call.Start(() => fs.Create(a.Ino, N("x"), RegularMode, Credentials.Root, out _));
        Assert.True(first.Held.Wait(TimeSpan.FromSeconds(10)));
        ulong seqA = BinaryPrimitives.ReadUInt64LittleEndian(memory.Read(g.LogOffset + atA + 8, 8));
        var filler = QuarterRingFiller(fs);
        var fillers = new List<Call>();
        for (int i = 0; i < 3; i++)
        {
            long head = fs.LogHeadOffset;
            fillers.Add(Call.Start(() => { fs.Log.Commit(filler); return Errno.Ok; }));
            Assert.True(SpinWait.SpinUntil(() => fs.LogHeadOffset != head, TimeSpan.FromSeconds(10)), $"filler {i} never reserved");
        }

        // The fourth does not fit: the header moves the tail to A (past the applied mkdir), and
        // since that frees too little, the reserver waits for A alone.
        var fourth = Call.Start(() => { fs.Log.Commit(filler); return Errno.Ok; });
        Assert.True(SpinWait.SpinUntil(() => TailSequence(memory, g) == seqA, TimeSpan.FromSeconds(10)), "the tail did not move to the oldest unapplied transaction");
        Assert.Equal(atA, TailOffset(memory, g));
        Assert.False(fourth.Done.Wait(TimeSpan.FromMilliseconds(200)), "the fourth filler found room while A held the tail");

        first.Release();
        Assert.Equal(Errno.Ok, earlier.Result());
        foreach (var c in fillers) Assert.Equal(Errno.Ok, c.Result());
        Assert.Equal(Errno.Ok, fourth.Result());
        Assert.True(TailSequence(memory, g) > seqA, "A's apply should have let the tail move on");
        using (var copy = MemoryMedia.CopyOf(memory))
        {
            using (var crashed = FileSystem.Mount(copy))
                Assert.Equal(Errno.Ok, crashed.Lookup(a.Ino, N("x"), out _));
            AssertFsckClean(copy);
        }
    }

    /// <summary>A transaction of a quarter of the ring (the largest the log takes) that changes nothing: zeros over rmap slots no test uses.</summary>
    private static LogTransaction QuarterRingFiller(FileSystem fs)
    {
        var g = fs.Geometry;
        // Whole rmap slots (the log refuses a table write that is not), as many as fit.
        int bytes = (fs.Log.MaxTransactionBytes - LogTransaction.HeaderSize - 16) / DiskRmap.Size * DiskRmap.Size;
        var tx = new LogTransaction();
        tx.Write(g.RmapOffset(g.RmapCount) - bytes, new byte[bytes]);
        Assert.Equal(fs.Log.MaxTransactionBytes, tx.EncodedLength);
        return tx;
    }

    private static JournalHeader Header(MemoryMedia media, Geometry g) =>
        DiskJournalHeader.ReadNewest(media.Read(g.JournalHeaderOffset, DiskJournalHeader.Size * 2), g.LogBytes, out _)!.Value;

    private static ulong TailSequence(MemoryMedia media, Geometry g) => Header(media, g).TailSeq;

    private static long TailOffset(MemoryMedia media, Geometry g) => Header(media, g).TailOffset;

    /// <summary>
    /// Power loss at points across a run where 4 threads commit concurrently (creates in their own
    /// directories, with 4 KiB fillers so the ring laps twice and its tail moves mid-ring), under
    /// the persistence model: fsck is clean, every create that had returned is there, and the
    /// creates present are exactly the ones below some sequence number (none behind a hole).
    /// </summary>
    [Fact]
    public void EveryCrashStateOfConcurrentCommitsHoldsASequencePrefixWithEveryReturnedCreate()
    {
        const int threads = 4, perThread = 60;
        using var recording = new RecordingMedia(new MemoryMedia(32L << 20));
        Mkfs.Format(recording, new MkfsOptions { InodeCount = 1024 });
        var spy = new SequenceSpy(recording);
        ulong[] dirs;
        var seqOf = new ulong[threads, perThread];
        var returnedAt = new int[threads, perThread];
        int from;
        using (var fs = FileSystem.Mount(spy))
        {
            dirs = Enumerable.Range(0, threads).Select(i =>
            {
                Assert.Equal(Errno.Ok, fs.MakeDirectory(Root, N($"d{i}"), DirMode, Credentials.Root, out var d));
                return d.Ino;
            }).ToArray();
            var filler = Filler(fs.Geometry);
            from = recording.Count;
            long cp0 = fs.LogCheckpoints;
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, id =>
            {
                for (int i = 0; i < perThread; i++)
                {
                    Assert.Equal(Errno.Ok, fs.Create(dirs[id], N($"f{i}"), RegularMode, Credentials.Root, out _));
                    seqOf[id, i] = spy.LastSequenceOfThisThread;
                    returnedAt[id, i] = recording.Count; // a crash at or after this position comes after the return
                    for (int k = 0; k < 2; k++) fs.Log.Commit(filler);
                }
            });
            Assert.True(fs.LogCheckpoints - cp0 >= 2, "the tail should have moved mid-run");
        }

        var rec = Recording.From(recording);
        var positions = new List<int>();
        for (int i = from; i < rec.Records.Length; i++)
            if (rec.Records[i].Kind == RecordKind.Drain) positions.Add(i);
        int stride = Math.Max(1, positions.Count / 90);
        var sim = new PmemSimulator(rec);
        using var space = new CrashWorkspace(rec.Size);
        sim.DurableLineChanged = space.DurableChanged;
        int point = 0;
        for (int p = 0; p < positions.Count; p += stride, point++)
        {
            sim.AdvanceTo(positions[p]);
            var lines = sim.PendingLines();
            for (long state = 0; state < 4; state++)
            {
                space.Build(sim.Durable, lines, CrashExplorer.Choose(lines, enumerate: false, state, seed: 1, point));
                string where = $"crash at event {positions[p]} state {state} ({lines.Count} lines in doubt)";
                var before = Fsck.Check(space.Media, new FsckOptions());
                Assert.True(before.IsClean, $"{where}: fsck: {string.Join("; ", before.Problems.Take(3))}");
                var present = new List<ulong>();
                var absent = new List<ulong>();
                using (var fs = FileSystem.Mount(space.Media))
                {
                    for (int id = 0; id < threads; id++)
                        for (int i = 0; i < perThread; i++)
                        {
                            bool there = fs.Lookup(dirs[id], N($"f{i}"), out _) == Errno.Ok;
                            Assert.True(there || returnedAt[id, i] > positions[p], $"{where}: d{id}/f{i} (seq {seqOf[id, i]}) had returned and is missing");
                            (there ? present : absent).Add(seqOf[id, i]);
                        }
                }
                if (present.Count > 0 && absent.Count > 0)
                    Assert.True(present.Max() < absent.Min(), $"{where}: the create of seq {present.Max()} is there but that of seq {absent.Min()} is not");
            }
        }
        Assert.True(point > 50, $"only {point} crash points");
    }

    /// <summary>A transaction of ~4 KiB that changes nothing: zeros over rmap slots no test uses.</summary>
    private static LogTransaction Filler(Geometry g)
    {
        var tx = new LogTransaction();
        int bytes = (4096 - LogTransaction.HeaderSize - 16) / DiskRmap.Size * DiskRmap.Size; // whole rmap slots
        tx.Write(g.RmapOffset(g.RmapCount) - bytes, new byte[bytes]);
        return tx;
    }

    /// <summary>An engine call on a thread of its own (a committer that the test can let stall).</summary>
    private sealed class Call
    {
        private Errno _result;
        private Exception? _error;

        public ManualResetEventSlim Done { get; } = new();

        public static Call Start(Func<Errno> call)
        {
            var c = new Call();
            var thread = new Thread(() =>
            {
                try { c._result = call(); }
                catch (Exception e) { c._error = e; }
                finally { c.Done.Set(); }
            }) { IsBackground = true };
            thread.Start();
            return c;
        }

        /// <summary>Waits for the call; rethrows what it threw.</summary>
        public Errno Result()
        {
            Assert.True(Done.Wait(TimeSpan.FromSeconds(30)), "the call never returned");
            if (_error is not null) throw _error;
            return _result;
        }
    }

    private static void AssertFsckClean(IMedia media)
    {
        var report = Fsck.Check(media, new FsckOptions());
        Assert.True(report.IsClean, string.Join("\n", report.Problems));
    }

    /// <summary>Remembers, per thread, the sequence number of the last transaction it stored into the log.</summary>
    private sealed class SequenceSpy(IMedia inner) : MediaDecorator(inner, ownsInner: false)
    {
        [ThreadStatic] private static ulong t_lastSeq;

        public ulong LastSequenceOfThisThread => t_lastSeq;

        protected override void Before(MediaOperation operation, ReadOnlySpan<byte> bytes, ulong value)
        {
            // A transaction's first store is its header: magic "TX" at 4, sequence at 8.
            if (operation.Kind == MediaOperationKind.Write && bytes.Length >= LogTransaction.HeaderSize
                && BinaryPrimitives.ReadUInt16LittleEndian(bytes[4..]) == LogTransaction.Magic)
                t_lastSeq = BinaryPrimitives.ReadUInt64LittleEndian(bytes[8..]);
            // Stretch the window between a committer's reservation and its persists so that
            // committers overtake each other, as they do on a page-granular media.
            if (operation.Kind == MediaOperationKind.Flush && operation.Length == 8 && Random.Shared.Next(4) == 0) Thread.Sleep(1);
        }
    }

    /// <summary>A media that can stall (or fail) one thread's first log flush, and tell when another thread drained its commit word.</summary>
    private sealed class GatedMedia : MediaDecorator
    {
        private readonly long _logStart, _logEnd;
        private readonly object _lock = new();
        private Hold? _hold;
        private ManualResetEventSlim? _persisted;
        private int _persistThread;
        private bool _commitWordFlushed;

        public GatedMedia(MemoryMedia inner) : base(inner, ownsInner: false)
        {
            Assert.True(DiskSuperblock.VerifyRead(inner.Read(0, DiskSuperblock.Size), out var sb).IsOk);
            var g = sb!.Geometry;
            _logStart = g.LogOffset;
            _logEnd = g.LogOffset + g.LogBytes;
        }

        public sealed class Hold : IDisposable
        {
            private readonly ManualResetEventSlim _go = new();
            private volatile bool _fail;
            public int Thread { get; set; }
            public ManualResetEventSlim Held { get; } = new();
            public void Release() => _go.Set();
            public void Fail() { _fail = true; _go.Set(); }

            public void Wait()
            {
                Held.Set();
                _go.Wait();
                if (_fail) throw new IOException("injected flush failure");
            }

            public void Dispose()
            {
                _go.Set(); // never leave a committer stalled behind a failed assertion
                _go.Dispose();
                Held.Dispose();
            }
        }

        /// <summary>The next thread (other than this one) to flush a log range blocks in that flush until released.</summary>
        public Hold HoldFirstLogFlushOfNextThread()
        {
            var h = new Hold { Thread = -1 };
            lock (_lock) _hold = h;
            return h;
        }

        /// <summary>Set when the next thread to flush an 8-byte log range (a commit word) drains after it.</summary>
        public ManualResetEventSlim SignalCommitWordDrainOfNextThread()
        {
            var e = new ManualResetEventSlim();
            lock (_lock)
            {
                _persisted = e;
                _persistThread = -1;
                _commitWordFlushed = false;
            }
            return e;
        }

        protected override void Before(MediaOperation operation, ReadOnlySpan<byte> bytes, ulong value)
        {
            int me = Environment.CurrentManagedThreadId;
            Hold? wait = null;
            lock (_lock)
            {
                bool inLog = operation.Offset >= _logStart && operation.Offset < _logEnd;
                if (operation.Kind == MediaOperationKind.Flush && inLog && _hold is { Thread: -1 } h)
                {
                    h.Thread = me;
                    _hold = null;
                    wait = h;
                }
                else if (_persisted is not null && (_persistThread == -1 || _persistThread == me))
                {
                    // The held thread is stalled in its flush: the first commit word flushed now is another's.
                    if (operation.Kind == MediaOperationKind.Flush && inLog && operation.Length == 8)
                    {
                        _persistThread = me;
                        _commitWordFlushed = true;
                    }
                    else if (operation.Kind == MediaOperationKind.Drain && _commitWordFlushed && _persistThread == me)
                    {
                        _persisted.Set();
                        _persisted = null;
                    }
                }
            }
            wait?.Wait();
        }
    }
}
