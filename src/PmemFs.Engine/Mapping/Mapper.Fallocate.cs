using PmemFs.Engine.Inodes;
using DiskState = PmemFs.Format.ExtentState;

namespace PmemFs.Engine.Mapping;

// fallocate's maps: preallocate (holes become unwritten), zero range (whole blocks become
// unwritten), punch (unmap), and the zeroed copies that replace partial edge blocks. Each
// builds the records of the caller's transaction; the caller picks the windows and commits.
internal sealed partial class Mapper
{
    /// <summary>Holes in file blocks [b0, b1) become unwritten extents (allocated, reading as zeros); mapped blocks stay as they are.</summary>
    internal void Preallocate(Txn tx, Inode inode, long b0, long b1)
    {
        var pieces = new List<ExtentPiece>();
        long cursor = b0, hint = PhysHint(inode, b0);
        bool changed = false;
        foreach (var e in inode.Extents.Overlapping(b0, b1).ToList())
        {
            if (cursor < e.FileBlock) { AllocateUnwritten(tx, inode, cursor, e.FileBlock, pieces, ref hint); changed = true; }
            long ps = Math.Max(cursor, e.FileBlock), pe = Math.Min(e.FileEnd, b1);
            pieces.Add(new ExtentPiece(ps, e.PhysOf(ps), pe - ps, e.State));
            hint = e.PhysOf(pe - 1) + 1;
            cursor = pe;
        }
        if (cursor < b1) { AllocateUnwritten(tx, inode, cursor, b1, pieces, ref hint); changed = true; }
        if (changed) ExtentEdit.Apply(fs, tx, inode, b0, b1, pieces);
    }

    /// <summary>Unmaps the whole blocks [full0, full1) (the caller dealt with partial edges).</summary>
    internal void Punch(Txn tx, Inode inode, long full0, long full1)
    {
        if (full0 < full1 && inode.Extents.Overlapping(full0, full1).Any())
            ExtentEdit.Apply(fs, tx, inode, full0, full1, []);
    }

    /// <summary>Whole blocks [full0, full1) become unwritten, holes among them allocated (the caller dealt with partial edges).</summary>
    internal void ZeroRange(Txn tx, Inode inode, long full0, long full1)
    {
        if (full0 >= full1) return;
        var pieces = new List<ExtentPiece>();
        AddUnwrittenPieces(tx, inode, full0, full1, pieces);
        ExtentEdit.Apply(fs, tx, inode, full0, full1, pieces);
    }

    /// <summary>
    /// Punch (<paramref name="punch"/>) or zero [offset, end) as one transaction: partial edge
    /// blocks holding data are copied to new blocks with their part zeroed, and the copies
    /// replace them in the same extent edit that unmaps (punch) or converts to unwritten (zero
    /// range) the whole blocks. A crash leaves the file entirely before or entirely after.
    /// </summary>
    internal void ZeroOrPunchInOneStep(Txn tx, Inode inode, bool punch, long offset, long end)
    {
        long b0 = offset / Bs, b1 = (end + Bs - 1) / Bs;
        long full0 = (offset + Bs - 1) / Bs, full1 = end / Bs;
        var pieces = new List<ExtentPiece>();
        bool changed = false;
        if (full0 > full1)
        {
            changed |= AddEdgeCopy(tx, inode, b0, offset - b0 * Bs, end - b0 * Bs, pieces);
        }
        else
        {
            if (offset % Bs != 0) changed |= AddEdgeCopy(tx, inode, b0, offset % Bs, Bs, pieces);
            if (full0 < full1)
            {
                if (punch) changed |= inode.Extents.Overlapping(full0, full1).Any();
                else
                {
                    AddUnwrittenPieces(tx, inode, full0, full1, pieces);
                    changed = true;
                }
            }
            if (end % Bs != 0) changed |= AddEdgeCopy(tx, inode, full1, 0, end % Bs, pieces);
        }
        if (changed) ExtentEdit.Apply(fs, tx, inode, b0, b1, pieces);
    }

    /// <summary>
    /// The piece for partial block <paramref name="block"/> after zeroing bytes [from, to) of it:
    /// written data goes to a fresh copy with that part zeroed, flushed before the commit (true);
    /// an unwritten block stays as it is and a hole stays a hole (false).
    /// </summary>
    private bool AddEdgeCopy(Txn tx, Inode inode, long block, long from, long to, List<ExtentPiece> pieces)
    {
        var e = inode.Extents.Find(block);
        if (e is null) return false;
        long old = e.PhysOf(block);
        if (e.State != DiskState.Written)
        {
            pieces.Add(new ExtentPiece(block, old, 1, e.State));
            return false;
        }
        long copy = tx.AllocateBlocks(1, old + 1, 1)[0].Start;
        fs.Media.Write(copy * Bs, fs.Media.Read(old * Bs, Bs));
        fs.Media.Fill(copy * Bs + from, to - from, 0);
        fs.Media.Flush(copy * Bs, Bs);
        pieces.Add(new ExtentPiece(block, copy, 1, DiskState.Written));
        return true;
    }

    /// <summary>
    /// Pieces making whole blocks [full0, full1) unwritten: mapped blocks keep their place, holes
    /// get new blocks, and so do shared blocks (unwritten blocks are never shared: a later write
    /// zeroes around its data in place).
    /// </summary>
    private void AddUnwrittenPieces(Txn tx, Inode inode, long full0, long full1, List<ExtentPiece> pieces)
    {
        long cursor = full0, hint = PhysHint(inode, full0);
        foreach (var e in inode.Extents.Overlapping(full0, full1).ToList())
        {
            if (cursor < e.FileBlock) AllocateUnwritten(tx, inode, cursor, e.FileBlock, pieces, ref hint);
            long ps = Math.Max(cursor, e.FileBlock), pe = Math.Min(e.FileEnd, full1);
            foreach (var run in e.State == DiskState.Written ? tx.Sharing.Runs(e.PhysOf(ps), pe - ps) : [new(e.PhysOf(ps), pe - ps, 1)])
            {
                long rs = e.FileBlock + (run.Start - e.PhysBlock);
                if (run.Shared) AllocateUnwritten(tx, inode, rs, rs + run.Count, pieces, ref hint);
                else pieces.Add(new ExtentPiece(rs, run.Start, run.Count, DiskState.Unwritten));
            }
            hint = e.PhysOf(pe - 1) + 1;
            cursor = pe;
        }
        if (cursor < full1) AllocateUnwritten(tx, inode, cursor, full1, pieces, ref hint);
    }

    /// <summary>New unwritten blocks for the hole [from, to): nothing to zero, they read as zeros until written.</summary>
    private void AllocateUnwritten(Txn tx, Inode inode, long from, long to, List<ExtentPiece> pieces, ref long hint)
    {
        foreach (var run in tx.AllocateBlocks(to - from, hint, Alignment(inode, from, to - from)))
        {
            pieces.Add(new ExtentPiece(from, run.Start, run.Count, DiskState.Unwritten));
            from += run.Count;
            hint = run.End;
        }
    }
}
