using System.Text;
using PmemFs.Format;

namespace PmemFs.Engine;

public sealed partial class FileSystem
{
    /// <summary>The file system label (what `pmemfs mkfs --label` set), as UTF-8 bytes without padding.</summary>
    public byte[] GetLabel() => Encoding.UTF8.GetBytes(Superblock.Label);

    /// <summary>
    /// Sets the label (FS_IOC_SETFSLABEL): both superblock copies are rewritten, the secondary
    /// first and the primary last (as mkfs writes them), each persisted before the next, so the
    /// change is durable when this returns. A crash in between leaves the old label or the new
    /// one whole: the primary decides, a torn primary gives way to the secondary, and the next
    /// read-write mount rewrites the other copy from the one it used. The caller checks who may.
    /// </summary>
    /// <returns>Ok; EINVAL (longer than <see cref="DiskSuperblock.MaxLabelBytes"/> bytes, a NUL
    /// inside, not UTF-8); EROFS (read-only mount, writes refused); EIO (shut down).</returns>
    public Errno SetLabel(ReadOnlySpan<byte> label)
    {
        if (label.Length > DiskSuperblock.MaxLabelBytes || label.IndexOf((byte)0) >= 0) return Errno.EINVAL;
        string text;
        try { text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(label); }
        catch (DecoderFallbackException) { return Errno.EINVAL; }
        if (Options.ReadOnly) return Errno.EROFS;
        try
        {
            Health.ThrowIfWritesRefused();
            lock (_formatLock)
            {
                if (Superblock.Label == text) return Errno.Ok;
                var updated = Superblock with { Label = text };
                ImageReader.WriteSuperblock(Media, updated, SuperblockCopy.Secondary);
                ImageReader.WriteSuperblock(Media, updated, SuperblockCopy.Primary);
                Superblock = updated;
            }
            return Errno.Ok;
        }
        catch (ErrnoException e) { return e.Errno; }
    }
}
