using PmemFs.Engine.Health;
using PmemFs.Engine.Inodes;
using PmemFs.Engine.Leases;
using PmemFs.Format;
using PmemFs.Media.Poison;

namespace PmemFs.Engine.Poison;

/// <summary>
/// Poison (bad blocks): the bad ranges the file system knows (<see cref="Map"/>), who owns each
/// (through the reverse map: every owner, cached or not), and what each owner does about it
/// (DESIGN.md "Poison", docs/health.md):
/// <list type="bullet">
/// <item>file data: that range of the file reads EIO, leases over it are recalled, and the
/// event names the file and offset; a write covering the poisoned blocks whole, zero range and
/// punch clear it;</item>
/// <item>free space: withheld from the allocator until cleared;</item>
/// <item>metadata: a superblock copy is rewritten from memory; any other structure makes the
/// file system refuse writes until `pmemfs fsck --repair` (never silently used).</item>
/// </list>
/// Shared blocks are poisoned for every file that maps them.
/// </summary>
internal sealed class PoisonWatch(FileSystem fs)
{
    private const int Bs = FormatConstants.BlockSize;

    public PoisonMap Map { get; } = new();

    /// <summary>At mount, after the tables are loaded: learns the media's list.</summary>
    public void Attach()
    {
        foreach (var r in fs.Media.BadRanges) Learn(r, "on the media's bad-block list at mount");
    }

    /// <summary>
    /// Learns a bad range and makes every owner of its new parts act. Call with no inode lock
    /// held: finding the owners takes each inode's read lock in turn.
    /// </summary>
    public void Learn(BadRange range, string how)
    {
        foreach (var part in Map.Add(range)) React(part, how);
    }

    private void React(BadRange bad, string how)
    {
        var g = fs.Geometry;
        long b0 = bad.Offset / Bs, b1 = (bad.End + Bs - 1) / Bs;
        // Free blocks of the range leave the allocator now, owned ones when they are freed.
        long d0 = Math.Max(b0, g.DataStart), d1 = Math.Min(b1, g.DataEnd);
        if (d0 < d1) fs.Blocks.Withhold(d0, d1 - d0);

        bool owned = false;
        foreach (var row in Owners(bad))
        {
            long s = Math.Max(row.Physical, bad.Offset), e = Math.Min(row.Physical + row.Length, bad.End);
            switch (row.Kind)
            {
                case ReverseMapKind.Refcount:
                    continue;
                case ReverseMapKind.Data:
                    owned = true;
                    long fileOffset = row.FileOffset + (s - row.Physical);
                    fs.Health.Record(HealthEventKind.Poison, row.Ino, fileOffset, e - s,
                        $"poison in inode {row.Ino} at file offset {fileOffset} (+{e - s}) ({how}): that range reads EIO until it is overwritten, zeroed or punched");
                    // A holder's loads there would fault: recall its lease (holders told; no wait).
                    long fb = fileOffset / Bs * Bs;
                    fs.Leases.BreakLayouts(row.Ino, FileRange.Between(fb, (fileOffset + (e - s) + Bs - 1) / Bs * Bs), 0);
                    break;
                case ReverseMapKind.Xattr:
                    owned = true;
                    // The xattrs are in memory (loaded at mount): answers stay right; the blob is
                    // rewritten elsewhere by the next xattr change, and fsck reports it until then.
                    fs.Health.Record(HealthEventKind.Poison, row.Ino, -1, e - s,
                        $"poison in inode {row.Ino}'s xattr blob at region bytes [{s}, +{e - s}) ({how}); its xattrs are served from memory");
                    break;
                default:
                    owned = true;
                    MetadataPoisoned(row.Kind, new BadRange(s, e - s), how);
                    break;
            }
        }
        if (!owned)
            fs.Health.Record(HealthEventKind.Poison, 0, bad.Offset, bad.Length, $"poison in free space at region bytes {bad} ({how}): withheld from the allocator");
    }

    private void MetadataPoisoned(ReverseMapKind kind, BadRange bad, string how)
    {
        if (kind == ReverseMapKind.Superblock && fs.Media.CanClearPoison && fs.RewriteSuperblockCopyAt(bad))
        {
            Map.Remove(bad.Offset, bad.Length);
            fs.Health.Record(HealthEventKind.PoisonCleared, 0, bad.Offset, bad.Length, $"poison in a superblock copy at region bytes {bad} ({how}): cleared and rewritten from memory");
            return;
        }
        fs.Health.Record(HealthEventKind.Poison, 0, bad.Offset, bad.Length, $"poison in the {Describe(kind)} at region bytes {bad} ({how})");
        fs.Health.RefuseWrites($"the {Describe(kind)} is poisoned at region bytes {bad}; writes are refused until `pmemfs fsck --repair` has run");
    }

    internal static string Describe(ReverseMapKind kind) => kind switch
    {
        ReverseMapKind.Superblock => "superblock",
        ReverseMapKind.Journal => "journal",
        ReverseMapKind.Bitmap => "free-space bitmap",
        ReverseMapKind.InodeTable => "inode table",
        ReverseMapKind.DirentTable => "directory-entry table",
        ReverseMapKind.ExtentTable => "extent table",
        ReverseMapKind.RmapTable => "reverse-map table",
        _ => kind.ToString(),
    };

    /// <summary>Every reverse-map row overlapping <paramref name="bad"/>, a page at a time.</summary>
    internal List<ReverseMapOwner> Owners(BadRange bad)
    {
        var all = new List<ReverseMapOwner>();
        var page = new ReverseMapOwner[256];
        ReverseMapCursor after = default;
        while (true)
        {
            if (fs.ReverseMap(bad.Offset, bad.Length, after, page, out int count, out bool more).Failed) break;
            all.AddRange(page.AsSpan(0, count));
            if (!more || count == 0) break;
            after = page[count - 1].Key;
        }
        return all;
    }

    /// <summary>
    /// The first poisoned byte, as a file offset, of [offset, +length) of <paramref name="inode"/>'s
    /// written data, or -1. Also asks the media (poison it knows and the map does not: found by
    /// touching), so the caller never loads from a bad line. The caller holds the inode's lock.
    /// </summary>
    internal long FirstPoisonedByte(Inode inode, long offset, long length, out BadRange? unknown)
    {
        unknown = null;
        long end = offset + length;
        foreach (var e in inode.Extents.Overlapping(offset / Bs, (end + Bs - 1) / Bs))
        {
            if (e.State != ExtentState.Written) continue;
            long fs0 = Math.Max(offset, e.FileBlock * (long)Bs), fs1 = Math.Min(end, e.FileEnd * (long)Bs);
            long phys = e.PhysBlock * (long)Bs + (fs0 - e.FileBlock * (long)Bs);
            if (!Map.IsEmpty && Map.FirstOverlap(phys, fs1 - fs0) is { } hit)
                return fs0 + Math.Max(0, hit.Offset - phys);
            try { fs.Media.CheckReadable(phys, fs1 - fs0); }
            catch (MediaPoisonException p)
            {
                unknown = p.Range;
                return fs0 + Math.Max(0, p.Range.Offset - phys);
            }
        }
        return -1;
    }

    /// <summary>
    /// Before bytes [start, end) of <paramref name="inode"/> are stored (a write, with the zeros
    /// between the old EOF and its data): poisoned blocks the store covers whole, and unwritten
    /// ones it fills, get their poison cleared (unless other files share them: copy on write
    /// leaves the poison with them); a poisoned block the store covers only partly cannot be
    /// written without reading the bad bytes: EIO. The caller holds the inode's write lock and
    /// has changed nothing yet.
    /// </summary>
    internal void BeforeStore(Inode inode, long start, long end)
    {
        if (Map.IsEmpty || end <= start) return;
        long b0 = start / Bs, b1 = (end + Bs - 1) / Bs;
        List<(long Phys, long Count)>? clear = null;
        foreach (var e in inode.Extents.Overlapping(b0, b1))
        {
            long ps = Math.Max(b0, e.FileBlock), pe = Math.Min(b1, e.FileEnd);
            long phys0 = e.PhysOf(ps);
            foreach (var bad in Map.All)
            {
                if (!bad.Overlaps(phys0 * Bs, (pe - ps) * Bs)) continue;
                // The file blocks holding this bad range, within the store's blocks.
                long pb0 = Math.Max(phys0, bad.Offset / Bs), pb1 = Math.Min(phys0 + (pe - ps), (bad.End + Bs - 1) / Bs);
                long f0 = ps + (pb0 - phys0), f1 = ps + (pb1 - phys0);
                bool whole = e.State == ExtentState.Unwritten || (f0 * Bs >= start && f1 * Bs <= end);
                if (!whole)
                {
                    fs.Health.Record(HealthEventKind.PoisonTouched, inode.Ino, f0 * Bs, (f1 - f0) * Bs,
                        $"a store to inode {inode.Ino} at [{start}, {end}) covers poisoned blocks at file offset {f0 * Bs} (+{(f1 - f0) * Bs}) only partly: EIO");
                    throw new ErrnoException(Errno.EIO);
                }
                if (!fs.Sharing.AnyOverlap(pb0, pb1 - pb0)) (clear ??= []).Add((pb0, pb1 - pb0));
            }
        }
        if (clear is null) return;
        foreach (var (phys, count) in clear) Clear(phys * Bs, count * Bs, $"overwritten by inode {inode.Ino}");
    }

    /// <summary>
    /// The unshared, poisoned physical blocks of <paramref name="inode"/>'s whole file blocks
    /// [b0, b1) (taken before a punch or zero range, cleared by <see cref="Clear"/> after it).
    /// </summary>
    internal List<(long Phys, long Count)> PoisonedBlocks(Inode inode, long b0, long b1)
    {
        var found = new List<(long, long)>();
        if (Map.IsEmpty || b0 >= b1) return found;
        foreach (var e in inode.Extents.Overlapping(b0, b1))
        {
            long ps = Math.Max(b0, e.FileBlock), pe = Math.Min(b1, e.FileEnd);
            long phys0 = e.PhysOf(ps);
            foreach (var bad in Map.All)
            {
                if (!bad.Overlaps(phys0 * Bs, (pe - ps) * Bs)) continue;
                long pb0 = Math.Max(phys0, bad.Offset / Bs), pb1 = Math.Min(phys0 + (pe - ps), (bad.End + Bs - 1) / Bs);
                if (!fs.Sharing.AnyOverlap(pb0, pb1 - pb0)) found.Add((pb0, pb1 - pb0));
            }
        }
        return found;
    }

    /// <summary><see cref="Clear"/> that reports failure (already recorded as an event) instead of throwing.</summary>
    internal bool TryClear(long offset, long length, string why)
    {
        try { Clear(offset, length, why); return true; }
        catch (ErrnoException) { return false; }
    }

    /// <summary>
    /// Clears the poison of region bytes [offset, +length) on the media (they read zeros after),
    /// forgets it, and lets the allocator use the blocks again. Throws EIO where the media
    /// cannot clear (the poison stays known).
    /// </summary>
    internal void Clear(long offset, long length, string why)
    {
        if (!fs.Media.CanClearPoison)
        {
            fs.Health.Record(HealthEventKind.Poison, 0, offset, length, $"poison at region bytes [{offset}, +{length}) cannot be cleared on this media ({why})");
            throw new ErrnoException(Errno.EIO);
        }
        try { fs.Media.ClearPoison(offset, length); }
        catch (Exception e) when (e is NotSupportedException or IOException)
        {
            fs.Health.Record(HealthEventKind.Poison, 0, offset, length, $"clearing poison at region bytes [{offset}, +{length}) failed: {e.Message}");
            throw new ErrnoException(Errno.EIO);
        }
        Map.Remove(offset, length);
        long b0 = offset / Bs, b1 = (offset + length + Bs - 1) / Bs;
        var g = fs.Geometry;
        long d0 = Math.Max(b0, g.DataStart), d1 = Math.Min(b1, g.DataEnd);
        if (d0 < d1) fs.Blocks.Release(d0, d1 - d0);
        fs.Health.Record(HealthEventKind.PoisonCleared, 0, offset, length, $"poison at region bytes [{offset}, +{length}) cleared ({why})");
    }
}
