/* UEFI device paths (EFI_DEVICE_PATH_PROTOCOL node lists, as in
 * UEFI_IMAGE_LOAD_EVENT and EFI_LOAD_OPTION) as text, in the UEFI
 * specification's text forms for the nodes boot paths use: PciRoot/Acpi, Pci,
 * Scsi, Sata, NVMe, USB, MAC, HD, CDROM, file paths, Fv/FvFile, vendor nodes;
 * any other node as Path(Type,SubType,HexData). */
#ifndef RT_DEVPATH_H
#define RT_DEVPATH_H

#include <stddef.h>
#include <stdint.h>

/* The text, malloc'd (UTF-8); NULL if out of memory, if len is 0 or if any
 * node's length is out of bounds (a malformed path gives no text at all). */
char *rt_devpath_text(const uint8_t *dp, size_t len);

#endif
