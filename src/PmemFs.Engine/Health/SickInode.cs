namespace PmemFs.Engine.Health;

/// <summary>
/// A file whose own metadata (inode record, a directory entry in it, an extent or its reverse-map
/// twin, its xattr blob) is damaged: it answers <see cref="Errno"/> (EUCLEAN, or EIO where the
/// media itself failed) instead of guessing, while every other file works (issue 13, item 6).
/// </summary>
public sealed record SickInode(ulong Ino, string Problem, Errno Answer);
