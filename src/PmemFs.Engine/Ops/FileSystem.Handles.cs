using PmemFs.Engine.Inodes;

namespace PmemFs.Engine;

/// <summary>
/// Finding an inode by its number alone, for durable file handles (name_to_handle_at /
/// open_by_handle_at, an NFS server exporting the mount). A handle is (inode number,
/// generation); the number is the FUSE node id and the slot of the inode table, the generation
/// grows each time the slot is reused (<see cref="NewInode"/>), so a handle names one file for
/// that file's whole life, across cache eviction and remount, and never another file.
/// </summary>
/// <remarks>
/// What a handle reaches, as on Linux's local file systems (XFS, ext4, tmpfs): a file that has
/// a name, or an unlinked file that is still open (its inode still exists); not a freed slot,
/// not a slot reused by another file (the generation differs), not an unlinked file nobody has
/// open any more (it is on its way out: its data was released at the last close and the
/// kernel's forget frees it). The kernel checks the generation itself (fs/fuse/inode.c
/// fuse_get_dentry compares the entry's generation with the handle's); callers that hold the
/// handle's generation pass it and get ESTALE here too.
/// </remarks>
public sealed partial class FileSystem
{
    /// <summary>
    /// The live inode numbered <paramref name="ino"/>: FUSE's lookup of "." in node
    /// <paramref name="ino"/> (the kernel's export support asks it for a handle whose inode it no
    /// longer caches).
    /// </summary>
    /// <param name="generation">The handle's generation, when the caller has it: another one is ESTALE.</param>
    /// <returns>ESTALE when the number is outside the table, the slot is free, the inode was
    /// freed, it has no name left and is not open, or the generation differs; EUCLEAN for a
    /// file found damaged (docs/health.md).</returns>
    public Errno LookupInode(ulong ino, uint? generation, out InodeAttributes attr)
    {
        attr = default;
        var inode = InodeAt(ino);
        if (inode is null) return Errno.ESTALE;
        if (Health.SickAnswer(ino) is { Failed: true } sick) return sick;
        inode.Lock.EnterReadLock();
        try
        {
            var why = WhyNotReachable(inode, generation);
            if (why.Failed) return why;
            attr = AttributesOf(inode);
            return Errno.Ok;
        }
        finally { inode.Lock.ExitReadLock(); }
    }

    /// <inheritdoc cref="LookupInode(ulong, uint?, out InodeAttributes)"/>
    public Errno LookupInode(ulong ino, out InodeAttributes attr) => LookupInode(ino, null, out attr);

    /// <summary>
    /// The parent of directory <paramref name="ino"/>: FUSE's lookup of ".." (the kernel
    /// reconnects a directory reached through a handle to the tree with it, then finds its name
    /// by reading the parent). The root is its own parent.
    /// </summary>
    /// <returns>ESTALE as <see cref="LookupInode(ulong, uint?, out InodeAttributes)"/>; ENOTDIR
    /// for anything but a directory; ENOENT for a removed directory (it is in no directory).</returns>
    public Errno LookupParent(ulong ino, out InodeAttributes attr)
    {
        attr = default;
        var inode = InodeAt(ino);
        if (inode is null) return Errno.ESTALE;
        if (Health.SickAnswer(ino) is { Failed: true } sick) return sick;
        ulong parent;
        inode.Lock.EnterReadLock();
        try
        {
            var why = WhyNotReachable(inode, null);
            if (why.Failed) return why;
            if (!inode.IsDirectory) return Errno.ENOTDIR;
            parent = Volatile.Read(ref inode.Parent);
            if (inode.Rec.Nlink == 0 || parent == 0) return Errno.ENOENT;
        }
        finally { inode.Lock.ExitReadLock(); }
        // The parent's own lock, not both at once (a rename may hold them parent first). A
        // rename in between makes this the old parent: the kernel's reconnect then finds no
        // name there and retries, as for any local file system.
        return LookupInode(parent, null, out attr);
    }

    /// <summary>Why a handle cannot reach <paramref name="inode"/> (read lock held), or Ok.</summary>
    private static Errno WhyNotReachable(Inode inode, uint? generation)
    {
        if (inode.Freed) return Errno.ESTALE;
        if (generation is uint g && g != inode.Rec.Generation) return Errno.ESTALE;
        // Unlinked and closed: its data is gone already (released at the last close) and the
        // kernel's forget is about to free the slot. An unlinked file still open is reachable.
        if (inode.Rec.Nlink == 0 && Interlocked.Read(ref inode.OpenHandles) == 0) return Errno.ESTALE;
        return Errno.Ok;
    }
}
