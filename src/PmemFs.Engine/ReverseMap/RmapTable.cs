using PmemFs.Format;

namespace PmemFs.Engine.ReverseMap;

/// <summary>
/// The only writer of the rmap table's slots (DESIGN.md "Engine shape": a reverse-map index that
/// is the only writer of rmap records): owner records of data extents (ExtentEdit) and xattr
/// blobs, and reference-count records (Sharing), which share the table. Each change is a record
/// image or a zeroed slot in the caller's transaction; slots come back only after its commit.
/// </summary>
internal sealed class RmapTable(FileSystem fs)
{
    /// <summary>A free slot for a new record (ENOSPC when the table is full; given back if the transaction fails).</summary>
    public long NewSlot(Txn tx) => tx.AllocateSlot(fs.RmapSlots);

    /// <summary>Logs an owner record: physical blocks -> data extent, xattr blob (or metadata, written by mkfs only).</summary>
    public void LogOwner(Txn tx, long slot, in RmapRecord record)
    {
        Span<byte> rec = stackalloc byte[DiskRmap.Size];
        DiskRmap.Seal(record, rec);
        tx.Log.Write(fs.Geometry.RmapOffset(slot), rec);
    }

    /// <summary>Logs a reference-count record (format version 2).</summary>
    public void LogRefcount(Txn tx, long slot, in RefcountRecord record)
    {
        Span<byte> rec = stackalloc byte[DiskRefcount.Size];
        DiskRefcount.Seal(record, rec);
        tx.Log.Write(fs.Geometry.RmapOffset(slot), rec);
    }

    /// <summary>Zeroes a slot (owner or count records are the same size); it is reusable after the commit.</summary>
    public void Free(Txn tx, long slot) => tx.FreeSlot(fs.RmapSlots, slot, fs.Geometry.RmapOffset(slot), DiskRmap.Size);
}
