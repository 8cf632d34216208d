using PmemFs.Format;
using PmemFs.Media;
using PmemFs.Media.Poison;

namespace PmemFs.Engine;

/// <summary>What one owner of a bad range is, for `pmemfs poison list` (Engine/Poison decides what it does).</summary>
public sealed record PoisonOwner(ReverseMapKind? Kind, ulong Ino, long FileOffset, long Length)
{
    /// <summary>No owner: free space (withheld from the allocator).</summary>
    public bool IsFree => Kind is null;
}

public sealed partial class FileSystem
{
    /// <summary>
    /// Before replay, on a read-write mount of media with bad ranges in the journal: a journal
    /// that holds no transaction needs nothing it holds, so its poison is cleared (the log ring
    /// is rewritten as it is used; the header stays). One that holds committed transactions, or
    /// whose header is poisoned, cannot be replayed without reading through the poison (or,
    /// masked, silently stopping short and losing what follows): the mount is refused, and
    /// `pmemfs fsck --repair` replays what it can read. Read-only mounts never replay.
    /// </summary>
    private void ClearPoisonOfAnIdleJournal(IMedia media, FileSystemOptions options)
    {
        if (options.ReadOnly || media.BadRanges.Count == 0) return;
        var g = Superblock.Geometry;
        long start = g.JournalStart * FormatConstants.BlockSize, length = g.JournalBlocks * FormatConstants.BlockSize;
        var hits = media.BadRanges.Where(r => r.Overlaps(start, length)).ToList();
        if (hits.Count == 0) return;
        if (JournalReplay.Inspect(PoisonMaskedMedia.Over(media), Superblock) != JournalState.Clean || !media.CanClearPoison)
            throw new ImageFormatException($"{options.Name}: the journal is poisoned and may hold committed transactions; run pmemfs fsck --repair (it replays what it can read)");
        foreach (var r in hits)
        {
            long s = Math.Max(r.Offset, start), e = Math.Min(r.End, start + length);
            media.ClearPoison(s, e - s);
            Health.Record(Engine.Health.HealthEventKind.PoisonCleared, 0, s, e - s, $"poison in the journal at region bytes [{s}, +{e - s}), which held no transaction: cleared");
        }
    }

    /// <summary>The bad ranges the file system knows of (sorted, merged), in region bytes.</summary>
    public IReadOnlyList<BadRange> PoisonedRanges => Poison.Map.All;

    /// <summary>
    /// Who owns each byte of <paramref name="bad"/>: the reverse map's rows clipped to it (file
    /// data with the file offset of the first bad byte, xattr blobs, metadata), and the parts
    /// nobody owns as free space.
    /// </summary>
    public IReadOnlyList<PoisonOwner> PoisonOwners(BadRange bad)
    {
        var owners = new List<PoisonOwner>();
        var covered = new List<BadRange>();
        foreach (var row in Poison.Owners(bad))
        {
            if (row.Kind == ReverseMapKind.Refcount) continue;
            long s = Math.Max(row.Physical, bad.Offset), e = Math.Min(row.Physical + row.Length, bad.End);
            owners.Add(new PoisonOwner(row.Kind, row.Ino, row.Kind == ReverseMapKind.Data ? row.FileOffset + (s - row.Physical) : -1, e - s));
            covered.Add(new BadRange(s, e - s));
        }
        BadRange[] free = [bad];
        foreach (var c in covered) free = BadRange.Subtract(free, c.Offset, c.Length);
        foreach (var f in free) owners.Add(new PoisonOwner(null, 0, -1, f.Length));
        return owners;
    }

    /// <summary>
    /// A load from <paramref name="range"/> faulted where the file system did not know of poison
    /// (the daemon caught it): learn it, so every owner reacts. Call with no inode lock held.
    /// </summary>
    public void LearnPoison(BadRange range, string how) => Poison.Learn(range, how);

    /// <summary>
    /// Injects poison into [offset, +length) of an emulated region (durably: the region's
    /// IMAGE.poison), as a failing device would. With <paramref name="tell"/> the file system
    /// learns it at once, as from a device's notification; without, only a load that touches it
    /// finds it (poison that appears under a mounted file system).
    /// </summary>
    /// <returns>Ok; EINVAL (outside the region); EOPNOTSUPP (a real device, or read-only).</returns>
    public Errno InjectPoison(long offset, long length, bool tell = true)
    {
        if (offset < 0 || length <= 0 || offset > Media.Size - length) return Errno.EINVAL;
        if (!Media.CanInjectPoison) return Errno.EOPNOTSUPP;
        Media.InjectPoison(offset, length);
        if (tell) Poison.Learn(BadRange.InSectors(offset, length), "injected");
        return Errno.Ok;
    }

    /// <summary>
    /// Clears the poison of [offset, +length) on the media (it reads zeros afterwards) where
    /// nothing that cannot be rewritten owns it: free space always; file data only with
    /// <paramref name="discardData"/> (that part of the file then reads zeros); metadata never
    /// (`pmemfs fsck --repair` rewrites the structure and clears it).
    /// </summary>
    /// <returns>Ok; EINVAL; EROFS; EOPNOTSUPP (the media cannot clear); EBUSY (file data, without
    /// <paramref name="discardData"/>); EPERM (metadata).</returns>
    public Errno ClearPoison(long offset, long length, bool discardData)
    {
        if (offset < 0 || length <= 0 || offset > Media.Size - length) return Errno.EINVAL;
        if (Options.ReadOnly) return Errno.EROFS;
        if (Health.State == Engine.Health.HealthState.ShutDown) return Errno.EIO;
        if (!Media.CanClearPoison) return Errno.EOPNOTSUPP;
        var range = new BadRange(offset, length);
        foreach (var o in PoisonOwners(range))
        {
            if (o.IsFree) continue;
            if (o.Kind is ReverseMapKind.Data or ReverseMapKind.Xattr) { if (!discardData) return Errno.EBUSY; }
            else return Errno.EPERM;
        }
        try { Poison.Clear(offset, length, discardData ? "cleared by the administrator; the data there now reads zeros" : "cleared by the administrator"); }
        catch (ErrnoException e) { return e.Errno; }
        return Errno.Ok;
    }
}
