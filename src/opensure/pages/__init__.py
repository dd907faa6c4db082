"""The public survey, thank-you and unsubscribe pages customers see."""
