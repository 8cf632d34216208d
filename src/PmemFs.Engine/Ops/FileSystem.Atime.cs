using PmemFs.Engine.Inodes;
using PmemFs.Format;

namespace PmemFs.Engine;

/// <summary>
/// Access times, relatime rules, written lazily (as Linux's lazytime): a read that moves atime
/// changes the inode in memory only, so a read never commits a transaction. The new atime goes
/// to the media with the inode's next transaction (any change logs the whole record), in a batch
/// once <see cref="LazyAtimeBatch"/> inodes wait, and at unmount (<see cref="Sync"/>). A crash
/// can lose access-time updates since then, never anything else (docs/format.md).
/// </summary>
public sealed partial class FileSystem
{
    /// <summary>Inodes whose atime moved since their record was last written, at most this many before they are written together.</summary>
    internal const int LazyAtimeBatch = 1024;

    private readonly object _lazyAtimeLock = new();
    private HashSet<Inode> _lazyAtimes = [];

    /// <summary>Inodes with an access time not yet on the media (tests).</summary>
    internal int LazyAtimeCount
    {
        get { lock (_lazyAtimeLock) return _lazyAtimes.Count; }
    }

    /// <summary>relatime: update atime only when it is older than mtime/ctime or a day old.</summary>
    private bool NeedsAtimeUpdate(Inode inode)
    {
        // DAX_IMMUTABLE skips implicit timestamp updates (rule 4).
        if (Options.NoAtime || Options.ReadOnly || Health.State != Engine.Health.HealthState.Healthy || (FlagRules.Of(inode) & (InodeFlags.NoAtime | InodeFlags.DaxImmutable)) != 0) return false;
        ref var r = ref inode.Rec;
        return r.AtimeNs <= r.MtimeNs || r.AtimeNs <= r.CtimeNs || Now() - r.AtimeNs > 24L * 3600 * 1_000_000_000;
    }

    /// <summary>Moves atime in memory after a read (the caller holds no lock of the inode).</summary>
    private void TouchAtime(Inode inode)
    {
        bool flush;
        inode.Lock.EnterWriteLock();
        try
        {
            if (inode.Freed || !NeedsAtimeUpdate(inode)) return;
            inode.Rec.AtimeNs = Now();
            lock (_lazyAtimeLock)
            {
                _lazyAtimes.Add(inode);
                flush = _lazyAtimes.Count >= LazyAtimeBatch;
            }
        }
        finally { inode.Lock.ExitWriteLock(); }
        if (flush) WriteLazyAtimes();
    }

    /// <summary>
    /// Writes the access times kept in memory: each inode's record as it is now, in transactions
    /// of up to 64 inodes. Best effort: a file system that refuses writes keeps them in memory.
    /// </summary>
    internal void WriteLazyAtimes()
    {
        HashSet<Inode> pending;
        lock (_lazyAtimeLock)
        {
            if (_lazyAtimes.Count == 0) return;
            pending = _lazyAtimes;
            _lazyAtimes = [];
        }
        if (Options.ReadOnly || Health.State != Engine.Health.HealthState.Healthy) return;
        const int PerTransaction = 64;
        var batch = new List<Inode>(PerTransaction);
        foreach (var inode in pending)
        {
            batch.Add(inode);
            if (batch.Count == PerTransaction) { WriteRecords(batch); batch.Clear(); }
        }
        if (batch.Count > 0) WriteRecords(batch);
    }

    /// <summary>One transaction logging the current records of <paramref name="inodes"/> (each write-locked meanwhile; freed ones skipped).</summary>
    private void WriteRecords(List<Inode> inodes)
    {
        var locked = new List<Inode>(inodes.Count);
        try
        {
            // Ascending inode numbers: the order every multi-inode operation takes locks in.
            foreach (var inode in inodes.OrderBy(i => i.Ino))
            {
                inode.Lock.EnterWriteLock();
                locked.Add(inode);
            }
            using var tx = Txn.Begin(this);
            foreach (var inode in locked)
                if (!inode.Freed) LogInode(tx, inode.Rec);
            if (!tx.Log.IsEmpty) tx.Commit();
        }
        catch (ErrnoException) { } // writes refused meanwhile: the times stay in memory
        finally
        {
            foreach (var inode in locked) inode.Lock.ExitWriteLock();
        }
    }
}
