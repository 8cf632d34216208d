namespace PmemFs.Engine.Health;

/// <summary>A table slot whose record is damaged and that no live structure uses: never allocated, reported by `info` and fsck.</summary>
public sealed record QuarantinedSlot(string Table, long Slot, string Problem);
