using static PmemFs.Format.RecordCodec;

namespace PmemFs.Format;

/// <summary>
/// The append-time check of what a transaction writes into the tables, stricter than replay
/// (<see cref="LogTransaction.Validate"/>): replay stores any bytes inside the tables, but the
/// engine only ever logs whole records it sealed, so an entry that covers part of a slot, lands
/// in the unused tail of a table's last block, or carries a record its table's read verifier
/// rejects is an engine bug. Caught before the transaction is stored, it costs one operation;
/// committed, the next mount would find the record damaged.
/// </summary>
public static class LogRecordCheck
{
    /// <summary>The first problem with the table writes of <paramref name="body"/>, or null. The body must have passed <see cref="LogTransaction.Validate"/>.</summary>
    public static string? Check(ReadOnlySpan<byte> body, int entries, Geometry g)
    {
        int pos = 0;
        for (int i = 0; i < entries; i++)
        {
            var kind = (LogEntryKind)body[pos];
            int length = (int)U32(body, pos + 4);
            long target = I64(body, pos + 8);
            int payload = kind == LogEntryKind.Write ? length : 0;
            if (kind is LogEntryKind.Write or LogEntryKind.Zero)
            {
                if (RecordTables.At(g, target) is not { } table)
                    return $"entry {i} writes [{target}, +{length}) outside every table's slots";
                long first = (target - table.Start) / table.SlotSize;
                if ((target - table.Start) % table.SlotSize != 0 || length == 0 || length % table.SlotSize != 0
                    || first + length / table.SlotSize > table.Count)
                    return $"entry {i} writes [{target}, +{length}), which is not whole {table.Name} slots";
                if (kind == LogEntryKind.Write)
                {
                    var records = body.Slice(pos + 16, length);
                    for (int s = 0; s < length / table.SlotSize; s++)
                    {
                        var v = Verify(table.Name, records.Slice(s * table.SlotSize, table.SlotSize), first + s);
                        if (v.Verdict is not (Verdict.Ok or Verdict.Empty)) return $"entry {i}: {v.Problem}";
                    }
                }
            }
            pos += 16 + (payload + 7) / 8 * 8;
        }
        return null;
    }

    private static VerifyResult Verify(string table, ReadOnlySpan<byte> record, long slot) => table switch
    {
        "inode" => DiskInode.VerifyRead(record, Geometry.InoOfSlot(slot), out _),
        "dirent" => DiskDirent.VerifyRead(record, slot, out _),
        "extent" => DiskExtent.VerifyRead(record, slot, out _),
        _ => DiskRefcount.IsRefcountSlot(record) ? DiskRefcount.VerifyRead(record, slot, out _) : DiskRmap.VerifyRead(record, slot, out _),
    };
}
