using PmemFs.Engine;
using PmemFs.Format;

namespace PmemFs.Fuzz.Tests;

/// <summary>
/// Which files own the damage between an undamaged image and a damaged copy, for the
/// availability measurements: a file owns a damaged record when the record names it (its inode,
/// an extent or rmap record of it, a directory entry in it or naming it), before or after the
/// damage, or claims its blocks; and it owns damaged data or xattr bytes. Whether the damage
/// also hit a superblock copy or the journal (then more may be lost: replay may stop early).
/// </summary>
public static class DamageOwners
{
    private const int Bs = FormatConstants.BlockSize;

    /// <param name="pristine">A (read-only) mount of <paramref name="before"/>: its reverse map names the owners of blocks.</param>
    public static (HashSet<ulong> Involved, bool Intact) Of(ReadOnlySpan<byte> before, ReadOnlySpan<byte> after, ImageMap map, FileSystem pristine)
    {
        var g = map.G;
        var involved = new HashSet<ulong>();
        bool intact = true;
        long journalStart = g.JournalStart * (long)Bs, journalEnd = (g.JournalStart + g.JournalBlocks) * (long)Bs;
        long secondary = g.SecondarySuperblock * (long)Bs;
        const int Chunk = 4096;
        for (long at = 0; at < before.Length; at += Chunk)
        {
            int len = (int)Math.Min(Chunk, before.Length - at);
            if (before.Slice((int)at, len).SequenceEqual(after.Slice((int)at, len))) continue;
            for (long i = at; i < at + len; i++)
            {
                if (before[(int)i] == after[(int)i]) continue;
                if (i >= journalStart && i < journalEnd || i < DiskSuperblock.Size || i >= secondary && i < secondary + DiskSuperblock.Size) intact = false;
                if (map.SlotAt(i) is { } slot)
                {
                    Owners(pristine, slot, before.Slice((int)slot.Offset, slot.Size), involved);
                    Owners(pristine, slot, after.Slice((int)slot.Offset, slot.Size), involved);
                    i = slot.Offset + slot.Size - 1;
                }
                else if (i >= g.DataStart * (long)Bs) BlockOwners(pristine, i / Bs, 1, involved);
            }
        }
        return (involved, intact);
    }

    /// <summary>The files one version of a table record names or whose blocks it claims.</summary>
    private static void Owners(FileSystem p, Slot slot, ReadOnlySpan<byte> bytes, HashSet<ulong> into)
    {
        switch (slot.Table)
        {
            case Table.Inode:
                into.Add(Geometry.InoOfSlot(slot.Index));
                if (DiskInode.VerifyRead(bytes, Geometry.InoOfSlot(slot.Index), out var i).IsOk && i.XattrBlock != 0) BlockOwners(p, i.XattrBlock, i.XattrBlocks, into);
                break;
            case Table.Dirent:
                if (DiskDirent.VerifyRead(bytes, slot.Index, out var d).IsOk) { into.Add(d.Parent); into.Add(d.Child); }
                break;
            case Table.Extent:
                if (DiskExtent.VerifyRead(bytes, slot.Index, out var e).IsOk) { into.Add(e.Ino); BlockOwners(p, e.PhysBlock, e.BlockCount, into); }
                break;
            case Table.Rmap when DiskRefcount.IsRefcountSlot(bytes):
                if (DiskRefcount.VerifyRead(bytes, slot.Index, out var rc).IsOk) BlockOwners(p, rc.PhysBlock, rc.BlockCount, into);
                break;
            case Table.Rmap:
                if (DiskRmap.VerifyRead(bytes, slot.Index, out var r).IsOk)
                {
                    if (r.Kind is RmapOwnerKind.InodeData or RmapOwnerKind.InodeXattr) into.Add(r.Owner);
                    BlockOwners(p, r.PhysBlock, r.BlockCount, into);
                }
                break;
        }
    }

    /// <summary>Files whose data or xattr blob lies in [block, +count) of the undamaged image.</summary>
    private static void BlockOwners(FileSystem p, long block, long count, HashSet<ulong> into)
    {
        long blocks = p.Media.Size / Bs;
        if (block < 0 || count <= 0 || block >= blocks) return;
        long start = block * Bs, length = Math.Min(count, blocks - block) * Bs;
        var rows = new ReverseMapOwner[64];
        var cursor = default(ReverseMapCursor);
        while (p.ReverseMap(start, length, cursor, rows, out int n, out bool more).IsOk)
        {
            foreach (var row in rows.AsSpan(0, n))
                if (row.Kind is ReverseMapKind.Data or ReverseMapKind.Xattr) into.Add(row.Ino);
            if (!more || n == 0) break;
            cursor = rows[n - 1].Key;
        }
    }
}
