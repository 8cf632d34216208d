namespace PmemFs.Media.Poison;

/// <summary>
/// A load touched poisoned media: what a machine check is to a CPU. Thrown by media that can
/// tell before the load (an emulated region's injected list, a device's known bad blocks) so
/// that the caller answers EIO instead of the process dying of SIGBUS.
/// </summary>
public sealed class MediaPoisonException(BadRange range, string? message = null)
    : IOException(message ?? $"poisoned media at region bytes {range}")
{
    /// <summary>The bad range that was touched (the whole known range, which may be larger than the load).</summary>
    public BadRange Range { get; } = range;
}
