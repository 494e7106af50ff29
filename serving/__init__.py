"""The product's outside world: command line, HTTP and DICOM services, storage and reports."""
