namespace PmemFs.Engine.Health;

/// <summary>Something the administrator must hear about (poison found, a file made sick, writes refused, shutdown).</summary>
/// <param name="At">UTC time of the event.</param>
/// <param name="Ino">The file concerned, or 0.</param>
/// <param name="Offset">Byte offset in that file (or in the region when <paramref name="Ino"/> is 0), or -1.</param>
public sealed record HealthEvent(DateTimeOffset At, HealthEventKind Kind, ulong Ino, long Offset, long Length, string Message);

public enum HealthEventKind
{
    /// <summary>Poison learned (its owner, file and offset when it is file data).</summary>
    Poison,
    /// <summary>A read or store refused with EIO because it would touch known poison.</summary>
    PoisonTouched,
    PoisonCleared,
    SickInode,
    QuarantinedSlot,
    WritesRefused,
    ShutDown,
    UnsafeShutdown,
    /// <summary>A read-only mount replayed into a private view instead of refusing.</summary>
    Salvaged,
}
