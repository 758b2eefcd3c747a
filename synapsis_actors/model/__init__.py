"""Provider-neutral data: requests, events, replies, provider configs."""
