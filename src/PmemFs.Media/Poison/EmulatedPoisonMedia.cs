namespace PmemFs.Media.Poison;

/// <summary>
/// An emulated region with the failure modes of a real device: injected bad ranges (kept in
/// <see cref="EmulatedDeviceState"/>) make every checked load from them fail as a machine check
/// would, <see cref="ClearPoison"/> clears them (the bytes then read as zeros, as after a
/// device's clear-error), and the unsafe shutdown count is the state's. Stores pass through
/// unchanged: a store does not clear poison, here as on the hardware; clearing is explicit.
/// </summary>
public sealed class EmulatedPoisonMedia : MediaDecorator
{
    private readonly Lock _gate = new();
    private readonly EmulatedDeviceState _state;
    private readonly bool _writable;

    public EmulatedPoisonMedia(IMedia inner, EmulatedDeviceState state, bool writable = true, bool ownsInner = true) : base(inner, ownsInner)
    {
        _state = state;
        _writable = writable;
    }

    /// <summary>
    /// <paramref name="media"/> as the file system sees it: a mapped image file gets its
    /// emulated device state (IMAGE.poison); a device keeps libpmem2's own bad-block list.
    /// </summary>
    public static IMedia Attach(PmemMedia media)
    {
        if (media.IsDeviceDax) return media;
        var state = EmulatedDeviceState.Load(EmulatedDeviceState.PathFor(media.Path));
        return new EmulatedPoisonMedia(media, state, writable: !media.IsReadOnly, ownsInner: false);
    }

    /// <summary>
    /// The bad ranges of <paramref name="media"/> as a tool that maps an image itself (fsck) must
    /// know them: its own list, and for an image file the emulated device's (IMAGE.poison).
    /// </summary>
    public static IReadOnlyList<BadRange> BadRangesOf(IMedia media)
    {
        if (media is not PmemMedia { IsDeviceDax: false } file) return media.BadRanges;
        var state = EmulatedDeviceState.Load(EmulatedDeviceState.PathFor(file.Path));
        return state.BadRanges.Length == 0 ? media.BadRanges : BadRange.Normalize([.. state.BadRanges, .. media.BadRanges]);
    }

    public override IReadOnlyList<BadRange> BadRanges => Inner.BadRanges.Count == 0 ? _state.BadRanges : BadRange.Normalize([.. _state.BadRanges, .. Inner.BadRanges]);

    public override ReadOnlySpan<byte> Read(long offset, int length)
    {
        CheckReadable(offset, length);
        return Inner.Read(offset, length);
    }

    public override void CheckReadable(long offset, long length)
    {
        var bad = _state.BadRanges;
        if (bad.Length > 0 && BadRange.FirstOverlap(bad, offset, length) is { } hit) throw new MediaPoisonException(hit);
        Inner.CheckReadable(offset, length);
    }

    public override bool CanClearPoison => _writable;

    public override void ClearPoison(long offset, long length)
    {
        if (!_writable) throw new NotSupportedException($"{Description}: opened read-only; clearing poison would change it");
        lock (_gate)
        {
            // Zeros first: once the list no longer names the range, its bytes are readable.
            foreach (var r in _state.BadRanges)
            {
                if (!r.Overlaps(offset, length)) continue;
                long s = Math.Max(r.Offset, offset), e = Math.Min(r.End, offset + length);
                Inner.Fill(s, e - s, 0);
                Inner.Flush(s, e - s);
            }
            Inner.Drain();
            _state.Clear(offset, length);
        }
    }

    public override bool CanInjectPoison => _writable;

    public override void InjectPoison(long offset, long length)
    {
        if (!_writable) throw new NotSupportedException($"{Description}: opened read-only; injecting poison would change it");
        if (offset < 0 || length <= 0 || offset > Size - length) throw new ArgumentOutOfRangeException(nameof(offset), $"[{offset}, +{length}) is not inside the region ({Size} bytes)");
        lock (_gate) _state.Inject(offset, length);
    }

    /// <summary>Counts an unsafe shutdown, as a device that lost power without flushing would (tests and drills).</summary>
    public void CountUnsafeShutdown()
    {
        lock (_gate) _state.CountUnsafeShutdown();
    }

    public override long? UnsafeShutdownCount => _state.UnsafeShutdownCount;

    protected override void Before(MediaOperation operation, ReadOnlySpan<byte> bytes, ulong value) { }
}
